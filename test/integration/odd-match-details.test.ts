import { createServer } from 'node:http';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MatchEvent } from '../../src/index.js';
import { closeServer, listen } from '../client/helpers.js';
import { png } from '../fixtures/images.js';
import { adapters, type Running } from '../helpers/adapters.js';

const express5 = adapters[0];

/** A Match answer that says IsMatch: true, its flag of another shape (MatchDistance a string). */
const ODD_MATCH = JSON.stringify({
  Status: { Code: 3000, Description: 'OK' },
  TrackingId: 'odd-match-1',
  IsMatch: true,
  MatchDetails: {
    MatchFlags: [
      { Source: 'Test', Violations: ['A1'], MatchDistance: '179' },
      { Source: 'Other', Violations: ['B1'], MatchDistance: 12 },
    ],
  },
});

/** The same verdict with a TrackingId that is not a string. */
const ODD_TRACKING_ID = JSON.stringify({ ...JSON.parse(ODD_MATCH), TrackingId: 42 });

/** The same verdict with a status description that is not a string. */
const ODD_DESCRIPTION = JSON.stringify({
  ...JSON.parse(ODD_MATCH),
  Status: { Code: 3000, Description: { Text: 'OK' } },
});

/** A service that answers every call with `body`. */
function answering(body: string) {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  });
}

const service = answering(ODD_MATCH);
const oddIdService = answering(ODD_TRACKING_ID);
const oddDescriptionService = answering(ODD_DESCRIPTION);
let baseUrl = '';
let oddIdUrl = '';
let oddDescriptionUrl = '';
beforeAll(async () => {
  baseUrl = await listen(service);
  oddIdUrl = await listen(oddIdService);
  oddDescriptionUrl = await listen(oddDescriptionService);
});
afterAll(async () => {
  await closeServer(service);
  await closeServer(oddIdService);
  await closeServer(oddDescriptionService);
});

describe('a match whose details are of an unexpected shape', () => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  /** An upload through a global Express guard against `url`: its answer, runs and match events. */
  async function upload(url: string, failMode: 'open' | 'closed', seed: number) {
    const server = await express5?.start(
      {
        apiKey: 'odd-details-key',
        baseUrl: url,
        failMode,
        policy: 'block',
        matchAnswer: 'explicit',
      },
      [{ path: '/upload' }],
      { global: true },
    );
    if (!server) throw new Error('no adapter');
    running.push(server);
    const matches: MatchEvent[] = [];
    server.guard.on('match', (event) => matches.push(event));
    const res = await request(server.url)
      .post('/upload')
      .attach('f', png(200, 200, seed), 'f.png');
    // Before: the answer was malformed, the file unchecked: under 'open' the handler got it.
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('UPLOAD_REJECTED');
    expect(server.log.runs).toBe(0);
    expect(matches).toHaveLength(1);
    return matches[0] as MatchEvent;
  }

  it.each(['open', 'closed'] as const)(
    "is still a match under failMode '%s': refused 422, a match event, never the handler",
    async (failMode) => {
      const match = await upload(baseUrl, failMode, 5);
      expect(match.trackingId).toBe('odd-match-1');
      // The flag that reads is kept; the odd one is not passed on as if it were well formed.
      expect(match.matchFlags).toEqual([
        expect.objectContaining({ source: 'Other', violations: ['B1'], matchDistance: 12 }),
      ]);
    },
  );

  it("is a match when its TrackingId is not a string (tracking id '')", async () => {
    // Before: the whole answer was malformed (its status could not be read).
    expect((await upload(oddIdUrl, 'open', 6)).trackingId).toBe('');
  });

  it('is a match when its status description is not a string', async () => {
    expect((await upload(oddDescriptionUrl, 'open', 7)).trackingId).toBe('odd-match-1');
  });
});
