import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import {
  type ErrorEvent,
  type GuardOptions,
  type MatchEvent,
  type PhotoDnaHasher,
  photodnaGuard,
} from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { appWith, echo, listen } from '../helpers/express-app.js';
import { multipartBody } from '../helpers/raw-upload.js';
import { testHasher, testHashOf } from '../helpers/test-hasher.js';

/**
 * MatchHash batches through the guard, over real HTTP, against the emulator at its real rate
 * limit (5 calls/s per key): the hashes of concurrent uploads share calls, each answer goes back
 * to its own upload, and a hash's own failure or its uploader's departure touches nobody else.
 */

let seed = 5000;
const fresh = () => png(200, 200, seed++);
const KNOWN = [png(200, 200, 1), png(200, 200, 2), png(200, 200, 3)];

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

async function setup(
  extra: GuardOptions = {},
  emulatorRate: { perSecond: number } | false = { perSecond: 5 },
) {
  const emulator = await startEmulator({
    rateLimit: emulatorRate,
    known: { hashes: KNOWN.map(testHashOf) },
  });
  const guard = photodnaGuard({
    apiKey: 'batch-key',
    baseUrl: emulator.url,
    hasher: testHasher,
    client: { retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 } },
    ...extra,
  });
  const errors: ErrorEvent[] = [];
  const matches: MatchEvent[] = [];
  guard.on('error', (e) => errors.push(e)).on('match', (e) => matches.push(e));
  const { app, log } = appWith((app, log) => {
    app.post('/upload', guard.any(), echo(log));
    app.post('/short', guard.route({ scanTimeoutMs: 300 }).any(), echo(log));
  });
  const server = await listen(app);
  cleanup.push(async () => {
    await server.close();
    await guard.close();
    await emulator.close();
  });
  return { emulator, guard, server, log, errors, matches };
}

const hashCalls = (emulator: Emulator) =>
  emulator.calls.filter((call) => call.operation === 'match-hash');
const upload = (url: string, bytes: Buffer, name: string) =>
  request(url).post('/upload').attach('f', bytes, name);

/** A hasher that answers nobody until `count` files are waiting: their hashes then arrive together. */
function gatheredHasher(count: number, hashOf: (bytes: Buffer) => string = testHashOf) {
  let waiting = 0;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const hasher: PhotoDnaHasher = async (bytes) => {
    waiting++;
    if (waiting === count) open();
    await gate;
    return hashOf(bytes);
  };
  return hasher;
}

describe('MatchHash batches (hasher option)', () => {
  it('25 concurrent uploads take about 5 calls, answers routed to their own uploads, no 429', async () => {
    const { emulator, server, matches } = await setup();
    const files = Array.from({ length: 25 }, (_, i) =>
      i % 9 === 4 ? (KNOWN[(i - 4) / 9] as Buffer) : fresh(),
    );
    const answers = await Promise.all(
      files.map((bytes, i) => upload(server.url, bytes, `f${i}.png`)),
    );

    const knownAt = [4, 13, 22];
    answers.forEach((res, i) => {
      if (knownAt.includes(i)) {
        expect(res.status, `upload ${i}`).toBe(422);
        expect(res.body.error.code).toBe('UPLOAD_REJECTED');
      } else {
        expect(res.status, `upload ${i}`).toBe(200);
        expect(res.body.photodna.status).toBe('clean');
        expect(res.body.photodna.files[0].originalname).toBe(`f${i}.png`);
        expect(res.body.photodna.files[0].trackingId).toMatch(/^1_photodna_/);
      }
    });
    expect(matches.map((m) => m.file.originalname).sort()).toEqual([
      'f13.png',
      'f22.png',
      'f4.png',
    ]);
    for (const match of matches) {
      expect(match.matchFlags).toEqual([
        { source: 'Test', violations: ['A1'], matchDistance: 0, matchId: expect.any(String) },
      ]);
    }
    const calls = hashCalls(emulator);
    expect(calls.every((call) => call.httpStatus === 200 && call.statusCode === 3000)).toBe(true);
    expect(emulator.calls.some((call) => call.httpStatus === 429)).toBe(false);
    expect(calls.length).toBeGreaterThanOrEqual(5);
    expect(calls.length).toBeLessThanOrEqual(7);
    expect(calls.filter((call) => call.isMatch).length).toBeGreaterThanOrEqual(1);
  });

  it('a hash the service refuses (per-hash 3002) fails only its own upload', async () => {
    const bad = fresh();
    const badSha = testHashOf(bad);
    // Base64 of 100 bytes: well-formed, but not a 144-byte PhotoDNA hash.
    const hasher = gatheredHasher(5, (bytes) =>
      testHashOf(bytes) === badSha ? Buffer.alloc(100, 7).toString('base64') : testHashOf(bytes),
    );
    const { emulator, server, errors } = await setup({ hasher });
    const files = [fresh(), fresh(), bad, KNOWN[0] as Buffer, fresh()];
    const answers = await Promise.all(
      files.map((bytes, i) => upload(server.url, bytes, `f${i}.png`)),
    );

    expect(hashCalls(emulator)).toHaveLength(1);
    expect(answers.map((res) => res.status)).toEqual([200, 200, 503, 422, 200]);
    expect(answers[2]?.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      stage: 'scan',
      reason: 'bad-request',
      file: { originalname: 'f2.png' },
    });
    expect(errors[0]?.error.message).toMatch(/3002/);
  });

  it('under failMode open, the refused hash passes as unchecked and the others as clean', async () => {
    const bad = fresh();
    const badSha = testHashOf(bad);
    const hasher = gatheredHasher(2, (bytes) =>
      testHashOf(bytes) === badSha ? Buffer.alloc(100, 7).toString('base64') : testHashOf(bytes),
    );
    const { server } = await setup({ hasher, failMode: 'open' });
    const [good, refused] = await Promise.all([
      upload(server.url, fresh(), 'good.png'),
      upload(server.url, bad, 'bad.png'),
    ]);
    expect(good?.body.photodna.status).toBe('clean');
    expect(refused?.status).toBe(200);
    expect(refused?.body.photodna.status).toBe('unchecked');
    expect(refused?.body.photodna.files[0].trackingId).toBeUndefined();
  });

  it('a failure of the whole call fails every file of it by the fail mode', async () => {
    const closed = await setup({ hasher: gatheredHasher(3) });
    closed.emulator.faults.push({ type: 'status', status: 401 });
    const refused = await Promise.all(
      [0, 1, 2].map((i) => upload(closed.server.url, fresh(), `f${i}.png`)),
    );
    expect(refused.map((res) => res.status)).toEqual([503, 503, 503]);
    expect(hashCalls(closed.emulator)).toHaveLength(1);
    expect(closed.errors.map((e) => e.reason)).toEqual([
      'unauthorized',
      'unauthorized',
      'unauthorized',
    ]);

    const open = await setup({ hasher: gatheredHasher(3), failMode: 'open' });
    open.emulator.faults.push({ type: 'status', status: 401 });
    const passed = await Promise.all(
      [0, 1, 2].map((i) => upload(open.server.url, fresh(), `f${i}.png`)),
    );
    expect(passed.map((res) => res.status)).toEqual([200, 200, 200]);
    expect(passed.map((res) => res.body.photodna.status)).toEqual([
      'unchecked',
      'unchecked',
      'unchecked',
    ]);
  });

  it('a hasher that throws or answers garbage fails its file without a call', async () => {
    const { emulator, server, errors } = await setup({
      hasher: async (bytes) => {
        if (bytes.length % 2 === 0) throw new Error('hasher crashed');
        return 'not base64!';
      },
      failMode: 'open',
    });
    const res = await upload(server.url, fresh(), 'f.png');
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('unchecked');
    expect(hashCalls(emulator)).toHaveLength(0);
    expect(errors.map((e) => e.reason)).toEqual(['hasher-failed']);
  });

  it('an upload whose deadline passes before its batch is sent leaves the batch: its hash is never sent', async () => {
    // One call per second: after the first call, the next batch waits about a second for a slot,
    // and the known file's 300 ms deadline (route /short) passes while it waits.
    const { emulator, server, errors } = await setup(
      { rateLimit: { perSecond: 1 } },
      { perSecond: 1 },
    );
    expect((await upload(server.url, fresh(), 'first.png')).status).toBe(200);
    const late = await request(server.url)
      .post('/short')
      .attach('f', KNOWN[1] as Buffer, 'late.png');
    expect(late.status).toBe(503);
    expect(errors.map((e) => e.reason)).toEqual(['timeout']);
    // The next upload has the whole default deadline: it makes the only other call, without the known hash.
    const after = await upload(server.url, fresh(), 'after.png');
    expect(after.status).toBe(200);
    expect(hashCalls(emulator)).toHaveLength(2);
    expect(hashCalls(emulator).some((call) => call.isMatch)).toBe(false);
  });

  it('an uploader who leaves before its batch is sent takes its hash out of the batch', async () => {
    let hashed!: () => void;
    const leaving = new Promise<void>((resolve) => {
      hashed = resolve;
    });
    const knownSha = testHashOf(KNOWN[2] as Buffer);
    const { emulator, server } = await setup(
      {
        rateLimit: { perSecond: 1 },
        hasher: async (bytes) => {
          const hash = testHashOf(bytes);
          if (hash === knownSha) setImmediate(hashed);
          return hash;
        },
      },
      { perSecond: 1 },
    );
    expect((await upload(server.url, fresh(), 'first.png')).status).toBe(200);
    // The known file's uploader goes away once its hash waits in the next batch.
    const boundary = 'leaver';
    const body = multipartBody(boundary, [
      { name: 'f', filename: 'known.png', type: 'image/png', data: KNOWN[2] as Buffer },
    ]);
    const req = httpRequest(`${server.url}/upload`, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': body.length,
      },
    });
    req.on('error', () => {});
    req.end(body);
    await leaving;
    req.destroy();
    // A later upload gets the next slot; the known hash never reaches the service.
    const after = await upload(server.url, fresh(), 'after.png');
    expect(after.status).toBe(200);
    expect(hashCalls(emulator)).toHaveLength(2);
    expect(hashCalls(emulator).some((call) => call.isMatch)).toBe(false);
  });
});
