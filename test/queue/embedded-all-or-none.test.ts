import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type GuardOptions, photodnaGuard } from '../../src/index.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import { loadSqlite } from '../../src/queue/load-sqlite.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { postFiles, serveUploads } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';
import { fileSizeLimit, hasPrlimit } from './file-size-limit.js';
import { recordOutcomes, uploadAccepted } from './outcomes.js';

/**
 * All or none, on the embedded queue: a request's deferred jobs run only once its verdict is
 * final. A request refused after some of its files were queued answered no `scanId`: those jobs
 * must never be scanned, quarantined or announced; they end `refused`. A request that passed has
 * all its jobs run; jobs held by a process that died before its verdict end `refused` at the next
 * open.
 */

const emu = useEmulator({ rateLimit: false });
const root = mkdtempSync(join(tmpdir(), 'pdg-embedded-aon-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seed = 98_000;
let n = 0;
const fresh = (name: string) => join(root, `${name}-${n++}`);

/** The outcomes the queue in `dir` keeps, by `scanId` (read once its guard is closed). */
async function outcomes(dir: string): Promise<Record<string, string | null>> {
  const Database = await loadSqlite();
  const db = new Database(join(dir, 'queue.db'));
  try {
    const rows = db.prepare('SELECT scan_id, outcome FROM jobs').all() as Array<{
      scan_id: string;
      outcome: string | null;
    }>;
    return Object.fromEntries(rows.map((row) => [row.scan_id, row.outcome]));
  } finally {
    db.close();
  }
}

describe('embedded queue: a request’s deferred jobs run all or none', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    emu.emulator.faults.clear();
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A guard with its own embedded queue and worker, behind `POST /upload`. */
  async function start(extra: GuardOptions) {
    const queueDir = fresh('queue');
    const guard = photodnaGuard(
      emu.options({
        queue: { dir: queueDir },
        quarantine: { dir: fresh('quarantine') },
        policy: 'quarantine',
        ...extra,
      }),
    );
    const seen = recordOutcomes(guard);
    guard.on('error', () => undefined);
    const server = await serveUploads(guard);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await server.close();
    };
    closers.push(close);
    const drained = () =>
      until(async () => {
        const depth = await (guard.queue as NonNullable<typeof guard.queue>).depth();
        return depth.waiting === 0 && depth.active === 0;
      }, 'the queue drained');
    return { url: server.url, queueDir, seen, drained, close };
  }

  it.runIf(hasPrlimit())(
    'defer: true, the second file’s copy not written (a full disk): 503, and the first file’s job ends refused, unscanned and silent',
    async () => {
      const s = await start({ defer: true });
      // The first file (4 KB) fits, the second (2.5 MB) does not.
      fileSizeLimit(process.pid, 1_000_000);
      let refused: request.Response;
      try {
        refused = await postFiles(s.url, knownImage(), png(200, 200, seed++, 2_500_000));
      } finally {
        fileSizeLimit(process.pid, 'unlimited');
      }
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('SCAN_UNAVAILABLE');
      await s.drained();
      await until(() => readdirSync(join(s.queueDir, 'bytes')).length === 0, 'no copy left');

      // A request that passes has every one of its jobs run.
      const scanIds = await uploadAccepted(
        s.url,
        s.seen,
        png(200, 200, seed++),
        png(200, 200, seed++),
      );
      expect(s.seen.scans.map((e) => e.scanId).sort()).toEqual([...scanIds].sort());
      expect(s.seen.matches).toEqual([]);
      expect(s.seen.quarantined).toEqual([]);
      expect(s.seen.rejects.filter((e) => e.scanId !== undefined)).toEqual([]);

      await s.close();
      const kept = await outcomes(s.queueDir);
      const refusedIds = Object.keys(kept).filter((id) => !scanIds.includes(id));
      expect(refusedIds).toHaveLength(1);
      expect(kept[refusedIds[0] as string]).toBe('refused');
    },
    60_000,
  );

  it("failMode 'open': a file queued unchecked is never scanned when another file gets the request rejected (422)", async () => {
    const s = await start({ failMode: 'open', client: { retry: { maxAttempts: 1 } } });
    // One file's call fails (queued for later), the other's is refused as not an image (422),
    // whichever comes first.
    emu.emulator.faults.push({ type: 'status', status: 500 }, { type: 'code', code: 3206 });
    const rejected = await postFiles(s.url, png(200, 200, seed++), png(200, 200, seed++));
    expect(rejected.status).toBe(422);
    expect(rejected.body.error.code).toBe('INVALID_IMAGE');
    await s.drained();
    await until(() => readdirSync(join(s.queueDir, 'bytes')).length === 0, 'no copy left');
    // The request's own (synchronous) scans aside, no deferred scan.
    expect(s.seen.scans.filter((e) => e.deferred)).toEqual([]);

    await s.close();
    expect(Object.values(await outcomes(s.queueDir))).toEqual(['refused']);
  });

  it('held jobs are not run before their release; those still held when the process ends are refused at the next open', async () => {
    const dir = fresh('held');
    const queue = await openScanQueue({ dir });
    const scans: string[] = [];
    const worker = await createScanWorker({
      queue,
      apiKey: 'held-key',
      baseUrl: emu.emulator.url,
      concurrency: 1,
    });
    worker.on('scan', (e) => void scans.push(e.scanId as string));
    const bytes = () => ({ kind: 'bytes' as const, bytes: png(200, 200, seed++) });
    await queue.enqueue({ scanId: 'held-1', source: bytes() }, { holdId: 'request-1' });
    await queue.enqueue({ scanId: 'held-2', source: bytes() }, { holdId: 'request-1' });
    await queue.enqueue({ scanId: 'orphan', source: bytes() }, { holdId: 'request-2' });
    // Enqueued after them, run before them: they wait for their release.
    await queue.enqueue({ scanId: 'free', source: bytes() });
    await until(() => scans.includes('free'), 'the job without a hold scanned');
    expect(scans).toEqual(['free']);
    // Not counted as waiting: they may never run.
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0, held: 3 });

    await queue.release?.('request-1', ['held-1', 'held-2']);
    await until(() => scans.length === 3, 'the released jobs scanned');
    expect(scans.slice(1).sort()).toEqual(['held-1', 'held-2']);
    await worker.close();
    await queue.close();

    // `request-2` never got its verdict (its process ended): refused, never run.
    const reopened = await openScanQueue({ dir });
    expect(await reopened.depth()).toMatchObject({ waiting: 0, active: 0 });
    await expect(reopened.release?.('request-2', ['orphan'])).rejects.toThrow(/not held/);
    await reopened.close();
    expect(readdirSync(join(dir, 'bytes'))).toEqual([]);
    expect(await outcomes(dir)).toMatchObject({ orphan: 'refused' });
  });

  it('an enqueue into a withdrawn hold, later or under way as it was withdrawn, is refused and leaves no copy', async () => {
    const dir = fresh('withdrawn');
    const queue = await openScanQueue({ dir });
    closers.push(() => queue.close());
    const bytes = () => ({ kind: 'bytes' as const, bytes: png(200, 200, seed++) });
    await queue.enqueue({ scanId: 'first', source: bytes() }, { holdId: 'request' });
    // Its copy being written as the hold is withdrawn.
    const underWay = queue.enqueue({ scanId: 'under-way', source: bytes() }, { holdId: 'request' });
    await queue.withdraw?.('request', ['first']);
    // Before: both stored, held until the next open, their copies kept meanwhile.
    await expect(underWay).rejects.toThrow(/withdrawn/);
    await expect(
      queue.enqueue({ scanId: 'later', source: bytes() }, { holdId: 'request' }),
    ).rejects.toThrow(/withdrawn/);
    expect(readdirSync(join(dir, 'bytes'))).toEqual([]);
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    // Another hold is not concerned.
    await queue.enqueue({ scanId: 'other', source: bytes() }, { holdId: 'another-request' });
    await queue.close();
    expect(await outcomes(dir)).toEqual({ first: 'refused', other: null });
  });

  it.runIf(hasPrlimit())(
    'a release that a full disk refuses: the withdrawal that follows removes the copies at once, though it cannot write the rows either',
    async () => {
      const dir = fresh('full-release');
      const queue = await openScanQueue({ dir });
      closers.push(() => queue.close());
      const bytes = () => ({ kind: 'bytes' as const, bytes: png(200, 200, seed++) });
      await queue.enqueue({ scanId: 'full-1', source: bytes() }, { holdId: 'request' });
      await queue.enqueue({ scanId: 'full-2', source: bytes() }, { holdId: 'request' });
      expect(readdirSync(join(dir, 'bytes')).sort()).toEqual(['full-1', 'full-2']);
      // No write past the first byte of any file: the database's log cannot grow.
      fileSizeLimit(process.pid, 1);
      try {
        await expect(queue.release?.('request', ['full-1', 'full-2'])).rejects.toThrow();
        // As the guard does for the request it then refuses 503.
        await queue.withdraw?.('request', ['full-1', 'full-2']).catch(() => undefined);
        // Before: both copies kept on the full disk until the next open.
        expect(readdirSync(join(dir, 'bytes'))).toEqual([]);
        // Left held until the next open, never run: not waiting (before: counted as waiting, and
        // the oldest job's age grew until a restart).
        expect(await queue.depth()).toEqual({ waiting: 0, active: 0, held: 2, oldestAgeMs: 0 });
      } finally {
        fileSizeLimit(process.pid, 'unlimited');
      }
      await queue.close();
      const reopened = await openScanQueue({ dir });
      await expect(reopened.release?.('request', ['full-1', 'full-2'])).rejects.toThrow(/not held/);
      await reopened.close();
      expect(await outcomes(dir)).toEqual({ 'full-1': 'refused', 'full-2': 'refused' });
    },
  );

  it.runIf(hasPrlimit())(
    'a withdrawal a full disk could not write: its rows end refused once space returns, at the next commit or claim pass, without reopening',
    async () => {
      const bytes = () => ({ kind: 'bytes' as const, bytes: png(200, 200, seed++) });
      for (const next of ['commit', 'claim pass'] as const) {
        const dir = fresh('full-withdraw');
        const queue = await openScanQueue({ dir });
        closers.push(() => queue.close());
        await queue.enqueue({ scanId: 'held-1', source: bytes() }, { holdId: 'request' });
        await queue.enqueue({ scanId: 'held-2', source: bytes() }, { holdId: 'request' });
        fileSizeLimit(process.pid, 1);
        try {
          await expect(queue.withdraw?.('request', ['held-1', 'held-2'])).rejects.toThrow();
          expect((await queue.depth()).held).toBe(2);
        } finally {
          fileSizeLimit(process.pid, 'unlimited');
        }
        // Space is back: the next successful write takes the withdrawal to the rows.
        const ran: string[] = [];
        if (next === 'commit') {
          await queue.enqueue({ scanId: 'later', source: bytes() });
        } else {
          const consumer = queue.consume(
            async (job) => {
              ran.push(job.scanId);
              return { done: true, outcome: 'clean' };
            },
            { concurrency: 1 },
          );
          closers.push(() => consumer.close());
        }
        // Before: held until the next open.
        await until(async () => (await queue.depth()).held === 0, `no row held after a ${next}`);
        // Closed, not reopened (an open would refuse them itself): the database read as left.
        await queue.close();
        expect(await outcomes(dir)).toMatchObject({ 'held-1': 'refused', 'held-2': 'refused' });
        expect(ran).toEqual([]);
      }
    },
  );
});
