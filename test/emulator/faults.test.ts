import { request } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import type { FaultSpec } from '../../src/emulator/index.js';
import { png } from '../fixtures/images.js';
import { call, emulator, type MatchResultBody, matchImage, PATHS, postJson } from './helpers.js';

const image = png();
const hashBatch = [{ DataRepresentation: 'Hash', Value: Buffer.alloc(144).toString('base64') }];

describe('fault injection', () => {
  it('status: answers the APIM status and body, with Retry-After when given and always for 429', async () => {
    const emu = await emulator({
      faults: [
        { type: 'status', status: 500 },
        { type: 'status', status: 503, retryAfter: 7 },
        { type: 'status', status: 429 },
        { type: 'status', status: 403 },
      ],
    });
    const a = await matchImage(emu, image);
    expect(a.status).toBe(500);
    expect(a.json).toEqual({ statusCode: 500, message: expect.any(String) });
    expect(a.headers['retry-after']).toBeUndefined();
    const b = await matchImage(emu, image);
    expect(b.status).toBe(503);
    expect(b.headers['retry-after']).toBe('7');
    const c = await matchImage(emu, image);
    expect(c.status).toBe(429);
    expect(c.json).toEqual({
      statusCode: 429,
      message: 'Rate limit is exceeded. Try again in 1 seconds.',
    });
    expect(c.headers['retry-after']).toBe('1');
    const d = await matchImage(emu, image);
    expect(d.status).toBe(403);
    expect(d.json.statusCode).toBe(403);
    expect((await matchImage(emu, image)).status).toBe(200);
    expect(emu.calls.map((x) => [x.httpStatus, x.fault])).toEqual([
      [500, 'status'],
      [503, 'status'],
      [429, 'status'],
      [403, 'status'],
      [200, undefined],
    ]);
  });

  it('code: answers HTTP 200 with Status.Code 3004 (Match) and per-hash 3004 (MatchHash)', async () => {
    const emu = await emulator({
      faults: [
        { type: 'code', code: 3004 },
        { type: 'code', code: 3004 },
      ],
    });
    const match = await matchImage(emu, image, 'image/png', PATHS.v1);
    expect(match.status).toBe(200);
    expect(match.json.Status).toEqual({
      Code: 3004,
      Description: 'Unknown scenario or unhandled error occurred while processing request',
      Exception: null,
    });
    expect(match.json.TrackingId).toMatch(/^1_photodna_/);
    const hash = await postJson(emu, PATHS.hash, hashBatch);
    expect(hash.json.Status.Code).toBe(3004);
    expect(hash.json.MatchResults.map((r: MatchResultBody) => r.Status.Code)).toEqual([3004]);
    expect(emu.calls.map((x) => x.statusCode)).toEqual([3004, 3004]);
  });

  it('reset: destroys the connection without an answer', async () => {
    const emu = await emulator({ faults: [{ type: 'reset' }] });
    await expect(matchImage(emu, image)).rejects.toMatchObject({
      code: expect.stringMatching(/^UND_ERR_SOCKET|ECONNRESET$/),
    });
    expect(emu.calls).toMatchObject([{ fault: 'reset', httpStatus: 0 }]);
    expect((await matchImage(emu, image)).status).toBe(200);
  });

  it('hang: never answers, until close() ends it', async () => {
    const emu = await emulator({ faults: [{ type: 'hang' }] });
    const pending = matchImage(emu, image);
    const outcome = await Promise.race([
      pending.then(
        () => 'answered',
        () => 'failed',
      ),
      new Promise((resolve) => setTimeout(() => resolve('still hanging'), 400)),
    ]);
    expect(outcome).toBe('still hanging');
    const closing = emu.close();
    await expect(pending).rejects.toThrow();
    await closing;
  });

  it('malformed: HTTP 200 with a JSON content type and a body that is not JSON', async () => {
    const emu = await emulator({ faults: [{ type: 'malformed' }, { type: 'malformed' }] });
    for (const answer of [
      await matchImage(emu, image),
      await postJson(emu, PATHS.hash, hashBatch),
    ]) {
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(() => JSON.parse(answer.text)).toThrow();
    }
  });

  it('shape: HTTP 200 with JSON of the wrong shape', async () => {
    const emu = await emulator({ faults: [{ type: 'shape' }] });
    const answer = await matchImage(emu, image);
    expect(answer.status).toBe(200);
    expect(answer.json).toBeTypeOf('object');
    expect(answer.json.Status).toBeUndefined();
    expect(answer.json.TrackingId).toBeUndefined();
  });

  it('latency: answers normally, after the delay', async () => {
    const emu = await emulator({ faults: [{ type: 'latency', ms: 300 }] });
    const started = Date.now();
    const answer = await matchImage(emu, image);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(answer.json.Status.Code).toBe(3000);
    expect(emu.calls[0]?.fault).toBe('latency');
  });

  it('latencyMs and setLatency delay every API answer', async () => {
    const emu = await emulator({ latencyMs: 1_000 });
    let started = Date.now();
    expect(
      (await call(emu, PATHS.v2, { body: image, contentType: 'image/png', key: null })).status,
    ).toBe(401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    emu.setLatency(0);
    started = Date.now();
    await matchImage(emu, image);
    // Half the latency it had: room for a busy machine, and still no latency left.
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('is consumed only by Match and MatchHash, never by Report', async () => {
    const emu = await emulator({ faults: [{ type: 'status', status: 503 }] });
    const report = await postJson(emu, PATHS.report, {}, { 'x-usr': 'u', 'x-pwd': 'p' });
    expect(report.status).toBe(200);
    expect(emu.faults.pending).toBe(1);
    expect((await postJson(emu, PATHS.hash, hashBatch)).status).toBe(503);
    expect(emu.faults.pending).toBe(0);
  });

  it('faults.push / clear drive the queue at runtime', async () => {
    const emu = await emulator();
    emu.faults.push({ type: 'status', status: 502 }, { type: 'code', code: 3004 });
    expect((await matchImage(emu, image)).status).toBe(502);
    emu.faults.clear();
    expect((await matchImage(emu, image)).json.Status.Code).toBe(3000);
  });

  it('faults.push, setErrorRate and setLatency refuse invalid input', async () => {
    const emu = await emulator();
    expect(() => emu.faults.push({ type: 'status', status: 42 })).toThrow(TypeError);
    expect(() => emu.faults.push({ type: 'boom' } as unknown as FaultSpec)).toThrow(TypeError);
    expect(() => emu.faults.setErrorRate(2, { type: 'reset' })).toThrow(RangeError);
    expect(() => emu.setLatency(-1)).toThrow(RangeError);
    expect(emu.faults.pending).toBe(0);
  });

  it('errorRate: 1 fails every call once the queue is empty, 0 none', async () => {
    const fault: FaultSpec = { type: 'status', status: 503 };
    const emu = await emulator({
      errorRate: { rate: 1, fault },
      faults: [{ type: 'code', code: 3004 }],
      rateLimit: false,
    });
    expect((await matchImage(emu, image)).json.Status.Code).toBe(3004);
    for (let i = 0; i < 5; i++) expect((await matchImage(emu, image)).status).toBe(503);
    emu.faults.setErrorRate(0, fault);
    expect((await matchImage(emu, image)).status).toBe(200);
  });

  it('errorRate 0.5 fails some calls and not others', async () => {
    const emu = await emulator({
      errorRate: { rate: 0.5, fault: { type: 'status', status: 500 } },
      rateLimit: false,
    });
    const statuses = [];
    for (let i = 0; i < 60; i++) statuses.push((await matchImage(emu, image)).status);
    expect(statuses).toContain(500);
    expect(statuses).toContain(200);
  });

  it('hostile socket use during a fault does not take the emulator down', async () => {
    const emu = await emulator({ faults: [{ type: 'latency', ms: 200 }] });
    const controller = new AbortController();
    const aborted = request(`${emu.url}${PATHS.v2}`, {
      method: 'POST',
      headers: { 'ocp-apim-subscription-key': 'k', 'content-type': 'image/png' },
      body: image,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(aborted).rejects.toThrow();
    // The delayed answer is written to the closed socket once the latency has passed.
    await vi.waitFor(() => expect(emu.calls[0]?.httpStatus).toBe(200), {
      timeout: 15_000,
      interval: 10,
    });
    expect((await matchImage(emu, image)).status).toBe(200);
  });
});
