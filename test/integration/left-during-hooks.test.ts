/**
 * An uploader who leaves while its match is stored or its hooks run gets no answer, so the guard
 * emits no `reject` for it (docs/events.md, rule 5) and hands nothing on; the match itself is
 * handled (announced) all the same.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import request from 'supertest';
import { afterEach, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { multipartBody, sendUpload } from '../helpers/raw-upload.js';
import { until } from '../helpers/until.js';

const KNOWN = png(200, 200, 4711);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

it.each(['block', 'flag'] as const)(
  "policy '%s': the uploader leaves during onMatch: the match is announced, no reject, nothing handed on",
  async (policy) => {
    let serverSocketClosed = false;
    let matchRunning = false;
    const guard = photodnaGuard({
      matcher: new RecordingMatcher([sha(KNOWN)]),
      policy,
      // Holds the answer until the uploader is gone, as the server saw it.
      onMatch: async () => {
        matchRunning = true;
        await until(() => serverSocketClosed, 'the server side of the upload closed');
      },
    });
    const events: string[] = [];
    guard.on('match', () => events.push('match'));
    guard.on('reject', (event) => events.push(`reject:${event.code}`));
    let runs = 0;
    const app = express();
    app.post('/upload', guard.any(), (_req, res) => {
      runs += 1;
      res.json({});
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await guard.close();
    });
    let first = true;
    server.on('connection', (socket: Socket) => {
      if (!first) return;
      first = false;
      socket.on('close', () => {
        serverSocketClosed = true;
      });
    });

    const boundary = 'LeftB';
    const body = multipartBody(boundary, [
      { name: 'f', filename: 'a.png', type: 'image/png', data: KNOWN },
    ]);
    const { port } = server.address() as AddressInfo;
    const client = sendUpload(port, '/upload', body, boundary);
    await until(() => matchRunning, 'onMatch running');
    client.destroy();
    await until(() => serverSocketClosed, 'the server side closed');

    // A second request, answered: the first one's decision has long been made by then.
    const clean = await request(server)
      .post('/upload')
      .attach('f', png(200, 200, 4712), 'b.png');
    expect(clean.status).toBe(200);
    expect(events).toEqual(['match']);
    expect(runs).toBe(1); // the second request only
  },
);
