import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { purgeDecision } from '../../src/quarantine/purge-policy.js';
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
