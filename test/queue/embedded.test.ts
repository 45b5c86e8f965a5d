import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator, testImages } from '../../src/emulator/index.js';
import type { MatchEvent, RejectEvent, ScanEvent } from '../../src/events.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import { createScanWorker, incidentIdOf, openScanQueue } from '../../src/queue/index.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';
import { startWorkerProcess, type WorkerEvent } from './worker-processes.js';

/** Issue 12: the embedded queue (SQLite + private byte files) and its worker, against the emulator. */

let emulator: Emulator;
let root: string;
const known = () => testImages()[0]?.bytes as Buffer;

beforeAll(async () => {
  emulator = await startEmulator({ rateLimit: { perSecond: 5 } });
  root = mkdtempSync(join(tmpdir(), 'pdg-queue-'));
});
afterAll(async () => {
  await emulator?.close();
  rmSync(root, { recursive: true, force: true });
});

const fresh = (name: string) => join(root, `${name}-${Math.random().toString(36).slice(2)}`);
const mode = (path: string) => statSync(path).mode & 0o777;

describe('embedded queue, one process', () => {
  it('scans deferred jobs, emits deferred events, quarantines matches and deletes its copies', async () => {
    const dir = fresh('queue');
    const quarantineDir = fresh('quarantine');
    const queue = await openScanQueue({ dir });
    await queue.enqueue({
      scanId: 'clean-1',
      source: { kind: 'bytes', bytes: png(200, 200, 11) },
      metadata: { post: 1 },
    });
    await queue.enqueue({
      scanId: 'match-1',
      source: { kind: 'bytes', bytes: known() },
      metadata: { post: 2 },
      uploader: { route: '/avatar', ip: '203.0.113.7', method: 'PUT' },
    });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'bytes'))).toBe(0o700);
    for (const name of readdirSync(join(dir, 'bytes')))
      expect(mode(join(dir, 'bytes', name))).toBe(0o600);
    expect(readdirSync(join(dir, 'bytes')).sort()).toEqual(['clean-1', 'match-1']);
    expect(await queue.depth()).toMatchObject({ waiting: 2, active: 0 });

    const scans: ScanEvent[] = [];
    const matches: MatchEvent[] = [];
    const worker = await createScanWorker({
      queue,
      apiKey: 'embedded-key',
      baseUrl: emulator.url,
      quarantine: { dir: quarantineDir },
    });
    worker.on('scan', (e) => {
      scans.push(e);
    });
    worker.on('match', (e) => {
      matches.push(e);
    });
    await until(
      async () =>
        scans.length === 2 &&
        (await queue.depth()).waiting === 0 &&
        (await queue.depth()).active === 0,
      'both jobs',
    );

    expect(scans.map((s) => [s.scanId, s.outcome, s.deferred]).sort()).toEqual([
      ['clean-1', 'clean', true],
      ['match-1', 'match', true],
    ]);
    expect(matches).toHaveLength(1);
    const [match] = matches;
    expect(match).toMatchObject({
      deferred: true,
      scanId: 'match-1',
      metadata: { post: 2 },
      route: '/avatar',
      method: 'PUT',
      ip: '203.0.113.7',
      policy: 'quarantine',
      id: incidentIdOf('match-1'),
      quarantineId: incidentIdOf('match-1'),
    });
    const store = createFileQuarantineStore({ dir: quarantineDir });
    expect((await store.list()).map((r) => r.id)).toEqual([incidentIdOf('match-1')]);
    expect(readdirSync(join(dir, 'bytes'))).toEqual([]);

    // The same scanId again is a no-op: no second scan, no second incident.
    await queue.enqueue({ scanId: 'match-1', source: { kind: 'bytes', bytes: known() } });
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    expect(readdirSync(join(dir, 'bytes'))).toEqual([]);
    await worker.close();
    await queue.close();
  });

  it('an invalid file is done as invalid, with a reject event and no call', async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    const before = emulator.calls.length;
    const worker = await createScanWorker({ queue, apiKey: 'k', baseUrl: emulator.url });
    const rejects: RejectEvent[] = [];
    worker.on('reject', (e) => {
      rejects.push(e);
    });
    await queue.enqueue({
      scanId: 'tiny',
      source: { kind: 'bytes', bytes: png(20, 20, 1) },
      field: 'avatar',
      originalname: 'tiny.png',
      metadata: { post: 7 },
      uploader: { route: '/avatar', ip: '203.0.113.7', method: 'PUT' },
    });
    await until(() => rejects.length === 1, 'the reject event');
    // A request's reject event (the detail as is), plus the job's fields as on its other events.
    expect(rejects).toEqual([
      {
        code: 'IMAGE_TOO_SMALL',
        status: 422,
        detail: expect.stringMatching(/^20x20, minimum \d+x\d+$/),
        route: '/avatar',
        method: 'PUT',
        ip: '203.0.113.7',
        file: { field: 'avatar', originalname: 'tiny.png' },
        deferred: true,
        scanId: 'tiny',
        metadata: { post: 7 },
      },
    ]);
    expect(emulator.calls.length).toBe(before);
    await worker.close();
    await queue.close();
  });

  it("a 'ref' job is resolved by the worker's load(ref)", async () => {
    const queue = await openScanQueue({ dir: fresh('queue') });
    const stored = new Map([['media/42', png(200, 200, 4242)]]);
    const asked: string[] = [];
    const worker = await createScanWorker({
      queue,
      apiKey: 'ref-key',
      baseUrl: emulator.url,
      load: async (ref) => {
        asked.push(ref);
        return stored.get(ref) as Buffer;
      },
    });
    const scans: ScanEvent[] = [];
    worker.on('scan', (e) => {
      scans.push(e);
    });
    await queue.enqueue({
      scanId: 'post-42',
      source: { kind: 'ref', ref: 'media/42' },
      metadata: { post: 42 },
    });
    await until(() => scans.length === 1, 'the ref scan');
    expect(asked).toEqual(['media/42']);
    expect(scans[0]).toMatchObject({ scanId: 'post-42', outcome: 'clean', metadata: { post: 42 } });
    await worker.close();
    await queue.close();
  });

  it('overlapping enqueues are each stored once before they resolve (one commit for the turn)', async () => {
    const dir = fresh('queue');
    const queue = await openScanQueue({ dir });
    const bytes = png(120, 120, 77);
    await Promise.all([
      ...Array.from({ length: 12 }, (_, i) =>
        queue.enqueue({ scanId: `ref-${i}`, source: { kind: 'ref', ref: `media/${i}` } }),
      ),
      ...Array.from({ length: 4 }, (_, i) =>
        queue.enqueue({ scanId: `bytes-${i}`, source: { kind: 'bytes', bytes } }),
      ),
      // The same scanId twice in one turn is one job.
      queue.enqueue({ scanId: 'ref-0', source: { kind: 'ref', ref: 'media/0' } }),
    ]);
    await queue.close();
    const reopened = await openScanQueue({ dir });
    expect(await reopened.depth()).toMatchObject({ waiting: 16, active: 0 });
    expect(readdirSync(join(dir, 'bytes')).sort()).toEqual([
      'bytes-0',
      'bytes-1',
      'bytes-2',
      'bytes-3',
    ]);
    await reopened.close();
  });

  it('a job whose metadata cannot be stored fails alone, not the jobs committed with it', async () => {
    const dir = fresh('queue');
    const queue = await openScanQueue({ dir });
    const results = await Promise.allSettled([
      queue.enqueue({ scanId: 'good-1', source: { kind: 'ref', ref: 'a' } }),
      queue.enqueue({
        scanId: 'bad',
        source: { kind: 'ref', ref: 'b' },
        metadata: { n: BigInt(1) },
      }),
      queue.enqueue({ scanId: 'good-2', source: { kind: 'ref', ref: 'c' } }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await queue.depth()).waiting).toBe(2);
    await queue.close();
  });

  it('close() stores the rows still waiting for their commit', async () => {
    const dir = fresh('queue');
    const queue = await openScanQueue({ dir });
    const enqueued = Array.from({ length: 5 }, (_, i) =>
      queue.enqueue({ scanId: `late-${i}`, source: { kind: 'ref', ref: `media/${i}` } }),
    );
    await queue.close(); // before the turn's commit would have run
    await Promise.all(enqueued);
    const reopened = await openScanQueue({ dir });
    expect((await reopened.depth()).waiting).toBe(5);
    await reopened.close();
  });

  it('a second process cannot open the same queue (single process)', async () => {
    const dir = fresh('queue');
    const queue = await openScanQueue({ dir });
    await expect(openScanQueue({ dir })).rejects.toThrow(/open in another process/);
    const events: WorkerEvent[] = [];
    await expect(
      startWorkerProcess(
        {
          queue: { dir },
          apiKey: 'k',
          baseUrl: emulator.url,
          perSecond: 5,
          quarantineDir: fresh('quarantine'),
          concurrency: 1,
        },
        events,
      ),
    ).rejects.toThrow(/exited early/);
    await queue.close();
  });
});

describe('embedded queue survives kill -9', () => {
  it('a worker killed mid-call loses no job, and no job is acted on twice', async () => {
    const dir = fresh('queue');
    const quarantineDir = fresh('quarantine');
    const files = fresh('files');
    rmSync(files, { recursive: true, force: true });
    const enqueue: Array<{ scanId: string; path: string }> = [];
    const images = [
      ...testImages()
        .slice(0, 3)
        .map((i) => i.bytes),
      ...[1, 2, 3, 4, 5, 6, 7].map((s) => png(200, 200, 300 + s)),
    ];
    const { mkdirSync } = await import('node:fs');
    mkdirSync(files);
    images.forEach((bytes, i) => {
      const path = join(files, `f${i}`);
      writeFileSync(path, bytes);
      enqueue.push({ scanId: `job-${i}`, path });
    });
    emulator.setLatency(150);
    const events: WorkerEvent[] = [];
    const spec = {
      queue: { dir },
      apiKey: 'kill-key',
      baseUrl: emulator.url,
      perSecond: 5,
      quarantineDir,
      concurrency: 1,
    };
    const first = await startWorkerProcess({ ...spec, enqueue }, events, 1);
    // Kill it while a call is in flight, after at least three jobs finished.
    const pending = () => emulator.calls.some((c) => c.key === 'kill-key' && c.httpStatus === 0);
    await until(
      () => events.filter((e) => e.name === 'scan').length >= 3 && pending(),
      'a call in flight',
    );
    await first.kill();
    const second = await startWorkerProcess(spec, events, 2);
    await until(async () => {
      const depth = await second.depth();
      return depth.waiting === 0 && depth.active === 0;
    }, 'the queue to drain');
    await second.close();
    emulator.setLatency(0);

    const scans = events.filter((e) => e.name === 'scan');
    expect(new Set(scans.map((e) => e.scanId))).toEqual(new Set(enqueue.map((j) => j.scanId)));
    // Each job's outcome was acted on once: one scan event, one match event per matched job.
    expect(scans).toHaveLength(enqueue.length);
    const matches = events.filter((e) => e.name === 'match');
    expect(matches.map((e) => e.scanId).sort()).toEqual(['job-0', 'job-1', 'job-2']);
    expect(events.filter((e) => e.name === 'quarantine')).toHaveLength(3);
    const store = createFileQuarantineStore({ dir: quarantineDir });
    expect((await store.list()).map((r) => r.id).sort()).toEqual(
      ['job-0', 'job-1', 'job-2'].map(incidentIdOf).sort(),
    );
    expect(readdirSync(join(dir, 'bytes'))).toEqual([]);
  }, 60_000);
});
