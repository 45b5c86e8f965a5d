import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorEvent, RejectEvent, ScanEvent } from '../../src/events.js';
import { type Guard, photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { useEmulator } from '../helpers/emulated.js';
import { until } from '../helpers/until.js';

/**
 * docs/events.md: a deferred scan emits the events a synchronous check of the same file emits,
 * plus the job's `deferred` and `scanId`. One guard, one file, both ways: `/now` checks it in the
 * request, `/later` queues it for the guard's own worker; the events must agree field by field.
 */

const emu = useEmulator({ rateLimit: false });
const root = mkdtempSync(join(tmpdir(), 'pdg-deferred-events-'));
let guard: Guard;
let server: Server;
const scans: ScanEvent[] = [];
const rejects: RejectEvent[] = [];
const errors: ErrorEvent[] = [];

beforeAll(async () => {
  guard = photodnaGuard(
    emu.options({ queue: { dir: join(root, 'queue') }, client: { retry: { maxAttempts: 1 } } }),
  );
  guard.on('scan', (e) => void scans.push(e));
  guard.on('reject', (e) => void rejects.push(e));
  guard.on('error', (e) => void errors.push(e));
  const app = express();
  const echo: express.RequestHandler = (req, res) => void res.json({ photodna: req.photodna });
  app.post('/now', guard.any(), echo);
  app.post('/later', guard.route({ defer: true }).any(), echo);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
});
afterAll(async () => {
  server?.close();
  await guard?.close();
  rmSync(root, { recursive: true, force: true });
});

let seed = 91_000;

/** Uploads `image` to `/later`; resolves to its `scanId`. */
async function queue(image: Buffer): Promise<string> {
  const res = await request(server).post('/later').attach('f', image, 'a.png');
  expect(res.status).toBe(200);
  expect(res.body.photodna.status).toBe('pending');
  return res.body.photodna.files[0].scanId as string;
}

describe('deferred events are the synchronous ones, plus the job', () => {
  it('scan: a file a request already checked is answered by the dedup cache (cached: true, no call)', async () => {
    const image = png(220, 160, seed++);
    const now = await request(server).post('/now').attach('f', image, 'a.png');
    expect(now.status).toBe(200);
    const checked = scans.at(-1) as ScanEvent;
    expect(checked).toMatchObject({ route: '/now', cached: false, outcome: 'clean' });
    const calls = emu.emulator.calls.length;

    const scanId = await queue(image);
    await until(() => scans.some((s) => s.scanId === scanId), 'the deferred scan');
    expect(scans.find((s) => s.scanId === scanId)).toEqual({
      ...checked,
      durationMs: expect.any(Number),
      cached: true,
      route: '/later',
      routePattern: '/later',
      deferred: true,
      scanId,
    });
    // The cache answered: the service was not asked again.
    expect(emu.emulator.calls.length).toBe(calls);
  });

  it('reject: a file the service refuses (3206) is refused with the same event, detail included', async () => {
    // Refusals are not cached: both checks ask the service, which refuses both times.
    const image = png(220, 160, seed++);
    emu.emulator.faults.push({ type: 'code', code: 3206 });
    const now = await request(server).post('/now').attach('f', image, 'a.png');
    expect(now.status).toBe(422);
    const refused = rejects.at(-1) as RejectEvent;
    expect(refused).toMatchObject({ route: '/now', code: 'INVALID_IMAGE' });

    emu.emulator.faults.push({ type: 'code', code: 3206 });
    const scanId = await queue(image);
    await until(() => rejects.some((r) => r.scanId === scanId), 'the deferred reject');
    expect(rejects.find((r) => r.scanId === scanId)).toEqual({
      ...refused,
      route: '/later',
      routePattern: '/later',
      deferred: true,
      scanId,
    });
  });

  it('error: a job the service cannot answer is reported as the request is, its message naming the job', async () => {
    const image = png(220, 160, seed++);
    emu.emulator.faults.push({ type: 'status', status: 500 });
    const now = await request(server).post('/now').attach('f', image, 'a.png');
    expect(now.status).toBe(503);
    const failed = errors.at(-1) as ErrorEvent;
    expect(failed).toMatchObject({ stage: 'scan', route: '/now', reason: 'server-error' });

    emu.emulator.faults.push({ type: 'status', status: 500 });
    const scanId = await queue(image);
    const ofJob = () => errors.find((e) => e.error.message.includes(scanId));
    await until(() => ofJob() !== undefined, 'the deferred error');
    const deferred = ofJob() as ErrorEvent;
    expect(deferred).toEqual({ ...failed, error: expect.any(Error), route: '/later' });
    expect(deferred.error.message).toBe(
      `PhotoDNA could not be asked for deferred scan ${scanId}: ${failed.error.message}`,
    );
    // The failure itself, as the request's event carries it (never the uploader's public text).
    expect(deferred.error.cause).toBeInstanceOf(failed.error.constructor);
    expect((deferred.error.cause as Error).message).toBe(failed.error.message);
    // Tried again later: scanned once the service answers.
    await until(() => scans.some((s) => s.scanId === scanId), 'the retried scan');
  });
});
