/**
 * A host's policy function is bounded by `hookTimeoutMs` wherever the guard asks it (a match now,
 * a file queued for a deferred scan, a match a global guard flagged for a route behind it): one
 * that never answers or throws is 'block', with an `error` event (stage `hook`), never a request
 * left unanswered.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, expect, it } from 'vitest';
import { png } from '../fixtures/images.js';
import { adapters, type Running } from '../helpers/adapters.js';
import { RecordingMatcher } from '../helpers/matchers.js';

const KNOWN = png(200, 200, 4801);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const root = mkdtempSync(join(tmpdir(), 'pdg-policy-bounded-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});
const express5 = adapters.find((a) => a.name === 'express5');
if (!express5) throw new Error('no express5 adapter');
let n = 0;

/** Stages of the error events and codes of the reject events, in order. */
function recorded(server: Running): string[] {
  const seen: string[] = [];
  server.guard.on('error', (e) => seen.push(`error:${e.stage}`));
  server.guard.on('reject', (e) => seen.push(`reject:${e.code}`));
  return seen;
}

const never = () => new Promise<never>(() => {});
const broken = () => {
  throw new Error('the policy service is down');
};

it.each([
  ['never answers', never],
  ['throws', broken],
])(
  'defer: a policy function that %s: the file is queued as block, with an error',
  async (_, policy) => {
    const server = await express5.start(
      {
        matcher: new RecordingMatcher(),
        defer: true,
        queue: { dir: join(root, `queue-${n++}`) },
        queueWorker: false,
        hookTimeoutMs: 200,
        policy,
      },
      [{ path: '/upload' }],
      { global: true },
    );
    running.push(server);
    const seen = recorded(server);
    const res = await request(server.url)
      .post('/upload')
      .attach('f', png(200, 200, 4802), 'a.png')
      .timeout(20_000);
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('pending');
    expect(seen).toEqual(['error:hook']);
  },
);

it("behind a global 'flag', a route's policy function that never answers blocks the flagged match", async () => {
  const server = await express5.start(
    { matcher: new RecordingMatcher([sha(KNOWN)]), policy: 'flag', hookTimeoutMs: 200 },
    [{ path: '/upload', use: (g) => g.route({ policy: never }).single('f') }],
    { global: true },
  );
  running.push(server);
  const seen = recorded(server);
  const res = await request(server.url).post('/upload').attach('f', KNOWN, 'a.png').timeout(20_000);
  expect(res.status).toBe(422);
  expect(server.log.runs).toBe(0);
  expect(seen).toEqual(['error:hook', 'reject:UPLOAD_REJECTED']);
});

it('defer: the policy is asked once per request, not once per file', async () => {
  let asked = 0;
  const server = await express5.start(
    {
      matcher: new RecordingMatcher(),
      defer: true,
      queue: { dir: join(root, `queue-${n++}`) },
      queueWorker: false,
      hookTimeoutMs: 200,
      policy: () => {
        asked += 1;
        return never();
      },
    },
    [{ path: '/upload' }],
    { global: true },
  );
  running.push(server);
  const seen = recorded(server);
  let upload = request(server.url).post('/upload');
  for (let i = 0; i < 5; i++) upload = upload.attach(`f${i}`, png(200, 200, 4810 + i), `${i}.png`);
  const res = await upload.timeout(20_000);
  expect(res.status).toBe(200);
  expect(res.body.photodna.files).toHaveLength(5);
  expect(asked).toBe(1);
  expect(seen).toEqual(['error:hook']);
});
