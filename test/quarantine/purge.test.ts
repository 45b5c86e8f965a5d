import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { purgeDecision } from '../../src/quarantine/purge-policy.js';
import { withReport } from '../../src/quarantine/record.js';
import type { QuarantineRecord, QuarantineStore } from '../../src/quarantine/types.js';
import { makeIncident, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const NOW = new Date('2025-04-01T00:00:00.000Z');

/** preserveDays 10: received 2025-03-01 → preserved until 2025-03-11, expired at NOW. */
async function add(store: QuarantineStore, received: string, seed: number): Promise<string> {
  const { incident, bytes } = makeIncident({ receivedAt: new Date(received) }, seed);
  await store.put(incident, bytes);
  return incident.id;
}

describe('purgeExpired', () => {
  it('removes only expired incidents that were reported or released', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 10 });
    const at = '2025-03-02T00:00:00.000Z';
    const ids = {
      fresh: await add(store, '2025-03-25T00:00:00Z', 1),
      freshReleased: await add(store, '2025-03-25T00:00:00Z', 2),
      expiredUntouched: await add(store, '2025-03-01T00:00:00Z', 3),
      expiredFailed: await add(store, '2025-03-01T00:00:00Z', 4),
      expiredReported: await add(store, '2025-03-01T00:00:00Z', 5),
      expiredReleased: await add(store, '2025-03-01T00:00:00Z', 6),
      reportedThenFailed: await add(store, '2025-03-01T00:00:00Z', 7),
      reportedLate: await add(store, '2025-03-01T00:00:00Z', 8),
      reportedToTestOnly: await add(store, '2025-03-01T00:00:00Z', 9),
    };
    // NCMEC's test endpoint files nothing: the evidence stays until a real report or a release.
    await store.markReported(ids.reportedToTestOnly, {
      status: 'reported',
      at,
      trackingId: 't1',
      isTest: true,
    });
    await store.release(ids.freshReleased);
    await store.markReported(ids.expiredFailed, { status: 'failed', at, error: 'down' });
    await store.markReported(ids.expiredReported, { status: 'reported', at, trackingId: 'r1' });
    await store.release(ids.expiredReleased, 'false positive');
    await store.markReported(ids.reportedThenFailed, { status: 'reported', at, trackingId: 'r2' });
    await store.markReported(ids.reportedThenFailed, {
      status: 'failed',
      at,
      error: 'forced resend',
    });
    // Reported on 2025-03-25: preservation runs 10 days from the report, past NOW.
    await store.markReported(ids.reportedLate, {
      status: 'reported',
      at: '2025-03-25T00:00:00.000Z',
      trackingId: 'r3',
    });

    const purged = await store.purgeExpired(NOW);
    const gone = [ids.expiredReported, ids.expiredReleased, ids.reportedThenFailed];
    expect(purged.sort()).toEqual([...gone].sort());
    const kept = [
      ids.fresh,
      ids.freshReleased,
      ids.expiredUntouched,
      ids.expiredFailed,
      ids.reportedLate,
      ids.reportedToTestOnly,
    ];
    expect((await store.list()).map((r) => r.id).sort()).toEqual([...kept].sort());
    const names = await readdir(dir);
    for (const id of gone) expect(names.filter((n) => n.startsWith(id))).toEqual([]);
    for (const id of kept) expect(names.filter((n) => n.startsWith(id))).toHaveLength(2);
    expect(await store.purgeExpired(NOW)).toEqual([]);
  });

  it('finishes a purge that crashed between deleting the image and the record', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 10 });
    const id = await add(store, '2025-03-01T00:00:00Z', 1);
    await store.release(id);
    await unlink(join(dir, `${id}.png`));
    expect(await store.purgeExpired(NOW)).toEqual([id]);
    expect(await readdir(dir)).toEqual([]);
  });

  it("removes nothing when `now` or a record's preserveUntil is not a date", async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 10 });
    const fresh = await add(store, new Date().toISOString(), 1);
    await store.release(fresh);
    expect(await store.purgeExpired(new Date('not a date'))).toEqual([]);
    expect((await store.purge(fresh, new Date(Number.NaN))).purge).toBe(false);
    expect((await store.list()).map((r) => r.id)).toEqual([fresh]);
    // A custom store reuses purgeDecision on its own records: one without a date is kept.
    const { preserveUntil: _lost, ...undated } = await store.getRecord(fresh);
    expect(purgeDecision(undated as QuarantineRecord, NOW).purge).toBe(false);
  });

  it('uses the current time by default', async () => {
    const store = createFileQuarantineStore({ dir: await tempDir(), preserveDays: 10 });
    const id = await add(store, '2025-03-01T00:00:00Z', 1);
    await store.release(id);
    expect(await store.purgeExpired()).toEqual([id]);
  });
});

describe('purgeDecision', () => {
  it('explains each decision', async () => {
    const store = createFileQuarantineStore({ dir: await tempDir(), preserveDays: 10 });
    const id = await add(store, '2025-03-01T00:00:00Z', 1);
    const record = await store.getRecord(id);
    expect(purgeDecision(record, new Date('2025-03-05T00:00:00Z'))).toEqual({
      purge: false,
      reason: 'preserved until 2025-03-11T00:00:00.000Z',
    });
    expect(purgeDecision(record, NOW)).toEqual({
      purge: false,
      reason: 'expired but neither reported nor released',
    });
    expect(purgeDecision(await store.release(id), NOW)).toEqual({
      purge: true,
      reason: 'expired and released',
    });
  });
});

/** Rewrites `field` of the record file of `id` to the raw JSON text `raw`. */
async function setRaw(dir: string, id: string, field: string, raw: string): Promise<void> {
  const path = join(dir, `${id}.json`);
  const text = await readFile(path, 'utf8');
  const edited = text.replace(new RegExp(`"${field}": ("[^"]*"|[^,\\n]*)`), `"${field}": ${raw}`);
  expect(edited).not.toBe(text);
  await writeFile(path, edited);
}

describe("a record's own preserveDays, as stored (an older version, a hand edit)", () => {
  it('reads one out of range or no number as 36,500: the record listed, its report recorded', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 10 });
    // 1e400 parses as Infinity; 1e12 days ran past the last date, and the report then failed to
    // be recorded; the others made the record malformed: left out of list(), not reportable.
    for (const [seed, raw] of ['1e12', '1e400', '0', '-5', 'null', '"30"'].entries()) {
      const id = await add(store, '2025-03-01T00:00:00Z', seed + 1);
      await setRaw(dir, id, 'preserveDays', raw);
      expect((await store.list()).find((r) => r.id === id)?.preserveDays, raw).toBe(36_500);
      const reported = await store.markReported(id, {
        status: 'reported',
        at: '2025-03-02T00:00:00.000Z',
        trackingId: 'r1',
      });
      expect(reported.preserveUntil, raw).toBe('2125-03-02T00:00:00.000Z');
      expect((await store.getRecord(id)).preserveDays, raw).toBe(36_500);
    }
    expect(await store.purgeExpired(NOW)).toEqual([]);
    // A custom store's record, never parsed: `withReport` bounds it too.
    const record = { ...(await store.getRecord(await add(store, NOW.toISOString(), 9))) };
    const report = { status: 'reported', at: '2025-04-02T00:00:00.000Z' } as const;
    for (const preserveDays of [1e12, Number.NaN, -1]) {
      const next = withReport({ ...record, preserveDays }, report, 10);
      expect(next.preserveUntil, String(preserveDays)).toBe('2125-04-02T00:00:00.000Z');
    }
  });

  it('keeps a reported, expired record whose period was made unreadable: never purged early for it', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 10 });
    const id = await add(store, '2025-03-01T00:00:00Z', 1);
    await store.markReported(id, { status: 'reported', at: '2025-03-02T00:00:00.000Z' });
    await setRaw(dir, id, 'preserveDays', '1e12');
    // Before: purged (past preserveUntil); now kept its period read as the longest there is.
    expect(await store.purgeExpired(NOW)).toEqual([]);
    expect((await store.purge(id, NOW)).reason).toBe('preserved until 2125-03-02T00:00:00.000Z');
  });
});

describe('purge and a preservation date that cannot be computed', () => {
  it('keeps a record whose filed report has no date, or whose preserveUntil was cut short by hand', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 10 });
    const undated = await add(store, '2025-03-01T00:00:00Z', 1);
    const filed = await store.markReported(undated, {
      status: 'reported',
      at: '2025-03-02T00:00:00.000Z',
      trackingId: 'r1',
    });
    const { at: _at, ...report } = filed.report;
    const record: QuarantineRecord = { ...filed, report };
    // Before: purged on preserveUntil (2025-03-12) alone.
    expect(purgeDecision(record, NOW)).toEqual({
      purge: false,
      reason: 'preserved until a date that cannot be computed',
    });
    expect(purgeDecision(record, new Date(8.64e15)).purge, 'the last date there is').toBe(false);

    // Released; its preserveUntil edited to before its own 10 days from receipt had passed.
    const shortened = await add(store, '2025-03-25T00:00:00Z', 2);
    await store.release(shortened);
    await setRaw(dir, shortened, 'preserveUntil', '"2025-03-26T00:00:00.000Z"');
    expect(await store.purgeExpired(NOW), 'the stored one has its date').toEqual([undated]);
    expect((await store.purge(shortened, NOW)).reason).toBe(
      'preserved until 2025-04-04T00:00:00.000Z',
    );
    expect(await store.purgeExpired(new Date('2025-04-05T00:00:00Z'))).toEqual([shortened]);
  });
});
