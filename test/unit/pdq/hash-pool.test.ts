/**
 * The worker pool's job deadline, with a real worker that wedges (test/fixtures/pdq): a job its
 * worker never answers fails once `jobTimeoutMs` passes, that worker is terminated, and the next
 * job is hashed by a fresh one, so one stuck decode cannot hold the pool for good.
 */
import { describe, expect, it } from 'vitest';
import { computePdq } from '../../../src/pdq/compute.js';
import { HashPool } from '../../../src/pdq/index.js';
import type { RawImage } from '../../../src/pdq/luma.js';

const WEDGING_WORKER = new URL('../../fixtures/pdq/wedging-hash-worker.ts', import.meta.url);

/** Noise pixels (a fresh buffer each time: the pool transfers it). */
function image(): RawImage {
  const width = 300;
  const height = 200;
  const data = new Uint8Array(width * height * 3).map((_, i) => (i * 2654435761) >>> 24);
  return { data, width, height, channels: 3 };
}

/** `promise`'s outcome, or a rejection naming `what` if it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('HashPool job deadline', () => {
  it('fails a job its worker never answers, and hashes the next in a fresh worker', async () => {
    const pool = new HashPool(1, { jobTimeoutMs: 5_000, workerScript: WEDGING_WORKER });
    try {
      // The fixture worker answers plain jobs for real, and wedges for good on a dihedral one.
      expect(await within(pool.run(image(), false), 20_000, 'a first job')).toEqual(
        computePdq(image()),
      );
      await expect(within(pool.run(image(), true), 20_000, 'the wedged job')).rejects.toThrow(
        /^PDQ worker: no answer within 5000 ms/,
      );
      expect(await within(pool.run(image(), false), 20_000, 'the job after it')).toEqual(
        computePdq(image()),
      );
    } finally {
      await pool.close();
    }
  });
});
