import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator, testImages } from '../../src/emulator/index.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import { incidentIdOf } from '../../src/queue/index.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';
import { fileSizeLimit, hasPrlimit } from './file-size-limit.js';
import { startWorkerProcess, type WorkerEvent } from './worker-processes.js';

/**
 * Issue 12: the embedded queue's worker on a disk that refuses writes (full). The child's file
 * size limit (`prlimit`, Linux) makes every write past 4 KiB fail, as a full disk does, while its
 * jobs wait; lifting it is the disk freed.
 */

let emulator: Emulator;
let root: string;

beforeAll(async () => {
  emulator = await startEmulator({ rateLimit: { perSecond: 5 } });
  root = mkdtempSync(join(tmpdir(), 'pdg-queue-full-'));
});
afterAll(async () => {
  await emulator?.close();
  rmSync(root, { recursive: true, force: true });
});

describe.runIf(hasPrlimit())('embedded queue on a full disk', () => {
  it('hands out no job it could not mark, says so, loses no bytes, and runs each job once when the disk is freed', async () => {
    const dir = join(root, 'queue');
    const quarantineDir = join(root, 'quarantine');
    const files = join(root, 'files');
    mkdirSync(files);
    const images = [
      ...testImages()
        .slice(0, 2)
        .map((i) => i.bytes),
      png(200, 200, 41),
      png(200, 200, 42),
    ];
    const enqueue = images.map((bytes, i) => {
      const path = join(files, `f${i}`);
      writeFileSync(path, bytes);
      return { scanId: `full-${i}`, path };
    });
    const events: WorkerEvent[] = [];
    const worker = await startWorkerProcess(
      {
        queue: { dir },
        apiKey: 'full-key',
        baseUrl: emulator.url,
        perSecond: 5,
        quarantineDir,
        concurrency: 5,
        consume: false,
        enqueue,
      },
      events,
    );
    const pid = worker.child.pid as number;
    try {
      fileSizeLimit(pid, 4096);
      worker.child.send({ type: 'start' });
      // The worker tried: a failure reported, or (the defect) a job run without its claim stored.
      await until(
        () => events.some((e) => e.name === 'scan' || e.stage === 'queue'),
        'the worker to meet the full disk',
      );
      expect(events.filter((e) => e.name === 'scan')).toEqual([]);
      expect(events.find((e) => e.stage === 'queue')?.message).toMatch(/scan queue/);
      expect(readdirSync(join(dir, 'bytes')).sort()).toEqual(enqueue.map((j) => j.scanId).sort());

      fileSizeLimit(pid, 'unlimited');
      await until(async () => {
        const depth = await worker.depth();
        return depth.waiting === 0 && depth.active === 0;
      }, 'the queue to drain once the disk is freed');
    } finally {
      await worker.close();
    }

    const scans = events.filter((e) => e.name === 'scan').map((e) => e.scanId);
    expect(scans.sort()).toEqual(enqueue.map((j) => j.scanId).sort());
    expect(emulator.calls.filter((c) => c.key === 'full-key')).toHaveLength(enqueue.length);
    const matches = events.filter((e) => e.name === 'match').map((e) => e.scanId);
    expect(matches.sort()).toEqual(['full-0', 'full-1']);
    const store = createFileQuarantineStore({ dir: quarantineDir });
    expect((await store.list()).map((r) => r.id).sort()).toEqual(
      ['full-0', 'full-1'].map(incidentIdOf).sort(),
    );
    expect(readdirSync(join(dir, 'bytes'))).toEqual([]);
  }, 90_000);

  it('a job whose finish could not be stored is finished once the disk is freed, its match not announced again', async () => {
    const dir = join(root, 'settle-queue');
    const quarantineDir = join(root, 'settle-quarantine');
    const path = join(root, 'settle-match');
    writeFileSync(path, testImages()[0]?.bytes as Buffer);
    const events: WorkerEvent[] = [];
    const before = emulator.calls.length;
    const worker = await startWorkerProcess(
      {
        queue: { dir },
        apiKey: 'settle-key',
        baseUrl: emulator.url,
        perSecond: 5,
        quarantineDir,
        concurrency: 1,
        holdMatches: true,
        enqueue: [{ scanId: 'settle-1', path }],
      },
      events,
    );
    const pid = worker.child.pid as number;
    try {
      // The match is stored and announced; the disk fills before the job is marked done.
      await until(() => events.some((e) => e.name === 'match'), 'the match');
      fileSizeLimit(pid, 4096);
      worker.release();
      await until(() => events.some((e) => e.stage === 'queue'), 'the failed finish reported');
      expect(await worker.depth()).toMatchObject({ waiting: 0, active: 1 });

      fileSizeLimit(pid, 'unlimited');
      await until(
        async () => (await worker.depth()).active === 0,
        'the job finished once the disk is freed (not only at the next open)',
        20_000,
      );
      expect(await worker.depth()).toMatchObject({ waiting: 0, active: 0 });
    } finally {
      await worker.close();
    }
    expect(events.filter((e) => e.name === 'scan').map((e) => e.scanId)).toEqual(['settle-1']);
    expect(events.filter((e) => e.name === 'match').map((e) => e.scanId)).toEqual(['settle-1']);
    expect(events.filter((e) => e.name === 'quarantine')).toHaveLength(1);
    expect(emulator.calls.length - before).toBe(1);
    const store = createFileQuarantineStore({ dir: quarantineDir });
    expect((await store.list()).map((r) => r.id)).toEqual([incidentIdOf('settle-1')]);
    expect(readdirSync(join(dir, 'bytes'))).toEqual([]);
  }, 90_000);
});
