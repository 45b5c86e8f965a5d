import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScanQueue } from '../../src/queue/index.js';
import type { ClaimedJob } from '../../src/queue/types.js';
import { until } from '../helpers/until.js';

/**
 * `uploader.receivedAt` is checked at enqueue: the worker builds a match's evidence from it, and a
 * time it cannot read (e.g. `String(Date.now())`) failed every attempt in the quarantine store,
 * for good. An ISO 8601 date-time with its time zone, or a `Date`, is stored as ISO (UTC).
 */

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pdg-received-at-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `queue-${n++}`);

describe('enqueue: uploader.receivedAt', () => {
  it('refuses a time the worker could not read, and stores nothing', async () => {
    const queue = await openScanQueue({ dir: fresh() });
    const refused: unknown[] = [
      String(Date.now()),
      Date.now(),
      'yesterday',
      '2025-03-01', // no time
      '2025-03-01T12:00:00', // no time zone: local time, whose?
      'Sat, 01 Mar 2025 12:00:00 GMT',
      '2025-02-30T00:00:00Z', // no such day: Date would make it 2 March
      '2025-13-01T00:00:00Z',
      new Date(Number.NaN),
    ];
    for (const receivedAt of refused) {
      await expect(
        queue.enqueue({
          source: { kind: 'ref', ref: 'media/1' },
          uploader: { receivedAt: receivedAt as string },
        }),
        String(receivedAt),
      ).rejects.toThrow(
        new TypeError(
          'uploader.receivedAt must be an ISO 8601 date-time with its time zone (new Date().toISOString()) or a valid Date',
        ),
      );
    }
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    await queue.close();
  });

  it('stores an ISO date-time or a Date as ISO (UTC), and the enqueue time when none is given', async () => {
    const queue = await openScanQueue({ dir: fresh() });
    const before = Date.now();
    await queue.enqueue({
      scanId: 'iso',
      source: { kind: 'ref', ref: 'a' },
      uploader: { receivedAt: '2025-03-01T12:00:00.000Z' },
    });
    await queue.enqueue({
      scanId: 'offset',
      source: { kind: 'ref', ref: 'b' },
      uploader: { receivedAt: '2025-03-01T14:30:00+02:00' },
    });
    await queue.enqueue({
      scanId: 'date',
      source: { kind: 'ref', ref: 'c' },
      uploader: { receivedAt: new Date(Date.UTC(2025, 2, 1, 9)) },
    });
    await queue.enqueue({ scanId: 'none', source: { kind: 'ref', ref: 'd' } });
    const claimed = new Map<string, ClaimedJob>();
    const consumer = queue.consume(
      async (job) => {
        claimed.set(job.scanId, job);
        return { done: true, outcome: 'clean' };
      },
      { concurrency: 4 },
    );
    await until(() => claimed.size === 4, 'the four jobs');
    await consumer.close();
    await queue.close();
    expect(claimed.get('iso')?.uploader.receivedAt).toBe('2025-03-01T12:00:00.000Z');
    expect(claimed.get('offset')?.uploader.receivedAt).toBe('2025-03-01T12:30:00.000Z');
    expect(claimed.get('date')?.uploader.receivedAt).toBe('2025-03-01T09:00:00.000Z');
    const none = Date.parse(claimed.get('none')?.uploader.receivedAt ?? '');
    expect(none).toBeGreaterThanOrEqual(before);
    expect(none).toBeLessThanOrEqual(Date.now());
  });
});
