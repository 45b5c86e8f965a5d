import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, expect, it } from 'vitest';
import type { ErrorEvent, MatchEvent } from '../../src/events.js';
import { photodnaGuard } from '../../src/index.js';
import { createFileQuarantineStore, type QuarantineStore } from '../../src/quarantine/index.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import { loadSqlite } from '../../src/queue/load-sqlite.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { REPORTER } from '../helpers/reporter.js';
import { until } from '../helpers/until.js';

/**
 * A deferred match whose evidence cannot be stored: a failing store keeps the job (and its bytes)
 * and the next attempt announces the match again with the same incident id, until one stores it
 * once; a worker without any store flags the match at once, with an `error`, instead of retrying
 * a write that could never happen.
 */

const emu = useEmulator({ rateLimit: false });
const root = mkdtempSync(join(tmpdir(), 'pdg-deferred-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(root, `${name}-${n++}`);

/** The file store, whose first `failures` puts fail (a full disk, say). */
function failingOnce(dir: string, failures = 1): QuarantineStore & { puts: number } {
  const store = createFileQuarantineStore({ dir });
  const wrapped = {
    puts: 0,
    put: (incident: Parameters<QuarantineStore['put']>[0], bytes: Buffer) => {
      wrapped.puts++;
      if (wrapped.puts <= failures) {
        return Promise.reject(new Error('ENOSPC: no space left on device'));
      }
      return store.put(incident, bytes);
    },
    get: (id: string) => store.get(id),
    getRecord: (id: string) => store.getRecord(id),
    list: () => store.list(),
    markReported: (...args: Parameters<QuarantineStore['markReported']>) =>
      store.markReported(...args),
    release: (id: string, reason?: string) => store.release(id, reason),
    purgeExpired: (now?: Date) => store.purgeExpired(now),
  };
  return wrapped;
}

it('a failed evidence write is tried again; each attempt announces the same incident, stored once', async () => {
  const store = failingOnce(fresh('quarantine'));
  const guard = photodnaGuard(
    emu.options({
      defer: true,
      policy: 'quarantine',
      quarantine: store,
      queue: { dir: fresh('queue') },
    }),
  );
  const matches: MatchEvent[] = [];
  const failures: string[] = [];
  guard.on('match', (e) => matches.push(e));
  guard.on('error', (e) => failures.push(`${e.stage}: ${e.error.message}`));
  const app = express();
  app.post('/upload', guard.single('f'), (req, res) => {
    res.json({ photodna: req.photodna });
  });
  const server = app.listen(0, '127.0.0.1');
  try {
    const res = await request(server).post('/upload').attach('f', knownImage(), 'a.png');
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('pending');
    await until(
      () => matches.some((m) => m.quarantineId !== undefined),
      'the stored match',
      20_000,
    );
    expect(store.puts).toBe(2);
    expect(failures).toEqual([expect.stringMatching(/^quarantine: .*ENOSPC/)]);
    // At-least-once: the first attempt announced it unstored, the second stored; one incident.
    expect(matches.map((m) => [m.id, m.quarantineId])).toEqual([
      [matches[1]?.id, undefined],
      [matches[1]?.id, matches[1]?.id],
    ]);
    expect((await store.list()).map((r) => r.id)).toEqual([matches[1]?.id]);
  } finally {
    server.close();
    await guard.close();
  }
});

it('a match announced again while its evidence write is retried is reported to NCMEC once, and its record notes that report', async () => {
  const store = failingOnce(fresh('quarantine'), 2);
  const before = emu.emulator.testReports.length;
  const reports: Array<Promise<string>> = [];
  const guard = photodnaGuard(
    emu.options({
      defer: true,
      policy: 'quarantine',
      quarantine: store,
      queue: { dir: fresh('queue') },
      reporter: REPORTER,
      // The README's pattern: every match reported at once.
      onMatch: (event) => {
        reports.push(event.report().then((result) => result.trackingId));
      },
    }),
  );
  const app = express();
  app.post('/upload', guard.single('f'), (req, res) => {
    res.json({ photodna: req.photodna });
  });
  const server = app.listen(0, '127.0.0.1');
  try {
    const res = await request(server).post('/upload').attach('f', knownImage(), 'a.png');
    expect(res.body.photodna.status).toBe('pending');
    await until(async () => (await store.list()).length === 1, 'the stored incident', 30_000);
    await until(() => reports.length === 3, 'three announcements');
    const trackingIds = await Promise.all(reports);
    expect(store.puts).toBe(3);
    expect(emu.emulator.testReports.length - before).toBe(1);
    expect(new Set(trackingIds).size).toBe(1);
    const [record] = await store.list();
    expect(record?.report).toMatchObject({ status: 'reported', trackingId: trackingIds[0] });
    expect(record?.reportHistory).toBeUndefined();
  } finally {
    server.close();
    await guard.close();
  }
});

it("a job asking for 'quarantine' from a worker without a store is flagged once, with an error", async () => {
  const queue = await openScanQueue({ dir: fresh('queue') });
  await queue.enqueue({
    scanId: 'no-store-1',
    source: { kind: 'bytes', bytes: knownImage() },
    policy: 'quarantine',
  });
  const worker = await createScanWorker({ queue, apiKey: 'k', baseUrl: emu.emulator.url });
  const matches: MatchEvent[] = [];
  const errors: ErrorEvent[] = [];
  worker.on('match', (e) => matches.push(e));
  worker.on('error', (e) => errors.push(e));
  try {
    // The match is announced while its job runs; the job then ends (not put back for a retry).
    await until(
      async () => {
        const depth = await queue.depth();
        return matches.length > 0 && depth.waiting === 0 && depth.active === 0;
      },
      'the match, and the job done',
      20_000,
    );
    expect(matches).toHaveLength(1);
    expect(matches[0]).toMatchObject({ policy: 'flag', scanId: 'no-store-1' });
    expect(matches[0]?.quarantineId).toBeUndefined();
    expect(errors.map((e) => [e.stage, e.reason])).toEqual([['quarantine', 'not-configured']]);
  } finally {
    await worker.close();
    await queue.close();
  }
});

it('a job an earlier version queued with an unreadable receivedAt still stores its evidence (at the claim time)', async () => {
  const dir = fresh('queue');
  const queue = await openScanQueue({ dir });
  await queue.enqueue({ scanId: 'legacy-1', source: { kind: 'bytes', bytes: knownImage() } });
  await queue.close();
  // What enqueue took unchecked before it refused such a time.
  const Database = await loadSqlite();
  const db = new Database(join(dir, 'queue.db'));
  const row = db.prepare("SELECT payload FROM jobs WHERE scan_id = 'legacy-1'").get() as {
    payload: string;
  };
  const payload = JSON.parse(row.payload);
  payload.uploader = { ...payload.uploader, receivedAt: String(Date.now()) };
  db.prepare("UPDATE jobs SET payload = ? WHERE scan_id = 'legacy-1'").run(JSON.stringify(payload));
  db.close();

  const store = createFileQuarantineStore({ dir: fresh('quarantine') });
  const reopened = await openScanQueue({ dir });
  const worker = await createScanWorker({
    queue: reopened,
    apiKey: 'k',
    baseUrl: emu.emulator.url,
    quarantine: store,
  });
  const before = Date.now();
  try {
    await until(async () => (await store.list()).length === 1, 'the stored incident', 20_000);
    const [record] = await store.list();
    expect(Date.parse(record?.receivedAt ?? '')).toBeGreaterThanOrEqual(before - 1_000);
  } finally {
    await worker.close();
    await reopened.close();
  }
});

it("a worker without a store meeting many 'quarantine' jobs warns once, not once per job", async () => {
  const queue = await openScanQueue({ dir: fresh('queue') });
  const warned: string[] = [];
  const note = (fields: unknown) => {
    const code = (fields as { code?: string } | undefined)?.code;
    if (code) warned.push(code);
  };
  const worker = await createScanWorker({
    queue,
    apiKey: 'k',
    baseUrl: emu.emulator.url,
    logger: { debug() {}, info() {}, warn: note, error() {} },
  });
  let matches = 0;
  worker.on('match', () => {
    matches += 1;
  });
  try {
    for (let i = 0; i < 4; i++) {
      await queue.enqueue({ source: { kind: 'bytes', bytes: knownImage() }, policy: 'quarantine' });
    }
    await until(() => matches === 4, 'four matches', 20_000);
    expect(warned.filter((code) => code === 'PHOTODNA_GUARD_NOT_CONFIGURED')).toHaveLength(1);
  } finally {
    await worker.close();
    await queue.close();
  }
});
