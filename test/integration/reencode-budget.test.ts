/**
 * `sanitize: 'reencode'` waits for the process's pixel budget no longer than `scanTimeoutMs`
 * (then 503 SCAN_BUSY, its `error` first) and not at all for an uploader who left: the wait is
 * dropped and nothing is re-encoded for a request nobody waits for.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { afterEach, expect, it } from 'vitest';
import { DECODING_PIXEL_BUDGET, decodingPixels } from '../../src/core/pixel-budget.js';
import { photodnaGuard } from '../../src/index.js';
import { gifFrameBeyondScreen, png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { multipartBody, sendUpload } from '../helpers/raw-upload.js';
import { until } from '../helpers/until.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** Holds the whole budget (as one huge re-encode would) until released. */
function holdBudget(): () => Promise<void> {
  let release: () => void = () => {};
  const held = decodingPixels.run(
    DECODING_PIXEL_BUDGET,
    () => new Promise<void>((resolve) => (release = resolve)),
  );
  return async () => {
    release();
    await held;
  };
}

async function server(scanTimeoutMs: number) {
  const matcher = new RecordingMatcher();
  const guard = photodnaGuard({ matcher, sanitize: 'reencode', scanTimeoutMs });
  const events: string[] = [];
  guard.on('error', (e) => events.push(`error:${e.stage}:${e.reason}`));
  guard.on('reject', (e) => events.push(`reject:${e.code}`));
  const app = express();
  app.post('/upload', guard.any(), (_req, res) => {
    res.json({ ok: true });
  });
  const listening = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => listening.once('listening', resolve));
  closers.push(async () => {
    listening.closeAllConnections();
    await new Promise((resolve) => listening.close(resolve));
    await guard.close();
  });
  return { listening, matcher, events };
}

it('a re-encode that cannot get its pixels within scanTimeoutMs is 503 SCAN_BUSY, announced', async () => {
  const release = holdBudget();
  try {
    const { listening, matcher, events } = await server(300);
    const res = await request(listening)
      .post('/upload')
      .attach('f', png(200, 200, 1), 'a.png');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_BUSY');
    expect(res.headers['retry-after']).toBeDefined();
    expect(events).toEqual(['error:scan:queue-full', 'reject:SCAN_BUSY']);
    expect(matcher.calls).toHaveLength(0);
    expect(decodingPixels.waiting).toBe(0);
  } finally {
    await release();
  }
});

it('an uploader who leaves while its re-encode waits is dropped from the queue', async () => {
  const release = holdBudget();
  try {
    const { listening, matcher, events } = await server(60_000);
    const boundary = 'BudgetB';
    const body = multipartBody(boundary, [
      { name: 'f', filename: 'a.png', type: 'image/png', data: png(200, 200, 2) },
    ]);
    const { port } = listening.address() as AddressInfo;
    const client = sendUpload(port, '/upload', body, boundary);
    await until(() => decodingPixels.waiting === 1, 'the re-encode waiting');
    client.destroy();
    await until(() => decodingPixels.waiting === 0, 'the wait dropped');
    expect(matcher.calls).toHaveLength(0);
    expect(events).toEqual([]);
  } finally {
    await release();
  }
});

it('a GIF whose frame outgrows the screen its header states is refused, never decoded outside the budget', async () => {
  // The header says 160x160 (the budget is charged that); the frame decodes to 3000x3000.
  const { listening, matcher, events } = await server(30_000);
  const res = await request(listening)
    .post('/upload')
    .attach('f', gifFrameBeyondScreen(160, 3000), 'small.gif');
  expect(res.status).toBe(422);
  expect(res.body.error.code).toBe('INVALID_IMAGE');
  expect(matcher.calls).toHaveLength(0);
  expect(events).toEqual(['reject:INVALID_IMAGE']);
  const next = await request(listening).post('/upload').attach('f', png(300, 300), 'next.png');
  expect(next.status).toBe(200);
});
