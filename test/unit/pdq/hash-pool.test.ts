/**
 * The worker pool's job deadline, with a real worker that wedges (test/fixtures/pdq): a job its
 * worker never answers fails once `jobTimeoutMs` passes, that worker is terminated, and the next
 * job is hashed by a fresh one, so one stuck decode cannot hold the pool for good. And its jobs'
 * signals: a job waiting for a worker is withdrawn, one started runs on but its result is dropped.
 */
import { getEventListeners } from 'node:events';
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

describe('HashPool job signal', () => {
  it('withdraws a waiting job whose signal aborts: it rejects at once, no worker runs it', async () => {
    // The fixture worker wedges on a dihedral job: the job behind it waits in the pool's queue.
    const pool = new HashPool(1, { jobTimeoutMs: 60_000, workerScript: WEDGING_WORKER });
    try {
      const wedged = pool.run(image(), true);
      wedged.catch(() => {});
      const controller = new AbortController();
      const waiting = pool.run(image(), false, controller.signal);
      expect(pool.pending).toBe(2);
      const reason = new Error('the uploader left');
      controller.abort(reason);
      await expect(within(waiting, 5_000, 'the withdrawn job')).rejects.toBe(reason);
      expect(pool.pending).toBe(1);
      expect(pool.completed).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    } finally {
      await pool.close();
    }
  });

  it('lets a started job whose signal aborts finish, drops its result, then runs the next', async () => {
    const pool = new HashPool(1);
    try {
      const controller = new AbortController();
      const started = pool.run(image(), false, controller.signal); // the worker is free: started
      const reason = new Error('the deadline passed');
      controller.abort(reason);
      await expect(within(started, 20_000, 'the started job')).rejects.toBe(reason);
      expect(pool.completed).toBe(1); // its worker did answer
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

      const next = new AbortController();
      expect(await within(pool.run(image(), false, next.signal), 20_000, 'the next job')).toEqual(
        computePdq(image()),
      );
      expect(getEventListeners(next.signal, 'abort')).toHaveLength(0);
    } finally {
      await pool.close();
    }
  });

  it('refuses a job whose signal has aborted already, without queueing it', async () => {
    const pool = new HashPool(1);
    try {
      const reason = new Error('gone before');
      await expect(pool.run(image(), false, AbortSignal.abort(reason))).rejects.toBe(reason);
      expect(pool.pending).toBe(0);
      expect(pool.completed).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('rejects the jobs still waiting when it closes, and removes their listeners', async () => {
    const pool = new HashPool(1, { jobTimeoutMs: 60_000, workerScript: WEDGING_WORKER });
    const wedged = pool.run(image(), true);
    const controller = new AbortController();
    const waiting = pool.run(image(), false, controller.signal);
    const settled = Promise.allSettled([wedged, waiting]);
    await pool.close();
    const [inWorker, inQueue] = await settled;
    expect(inWorker.status).toBe('rejected');
    expect(inQueue).toMatchObject({
      status: 'rejected',
      reason: { message: 'PDQ hash pool is closed' },
    });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects a job in flight when it closes with its own error, settled as pending drops', async () => {
    const pool = new HashPool(1, { jobTimeoutMs: 60_000, workerScript: WEDGING_WORKER });
    // Posted to a worker at once (the pool's first, started for it).
    const wedged = pool.run(image(), true);
    expect(pool.pending).toBe(1);
    const closing = pool.close();
    const pending = pool.pending;
    // Settled already: its reaction, queued first, wins the race against a fresh one.
    const state = await Promise.race([
      wedged.then(
        () => 'resolved',
        (error: Error) => error.message,
      ),
      Promise.resolve().then(() => 'not settled'),
    ]);
    await closing;
    // Before: 'not settled' while pending read 0; then 'PDQ worker exited with code 1'.
    expect({ pending, state }).toEqual({ pending: 0, state: 'PDQ hash pool is closed' });
    await expect(wedged).rejects.toThrow('PDQ hash pool is closed');
  });

  it('hashes pixels with their colour-managed drawings in a worker exactly as on the calling thread', async () => {
    const pool = new HashPool(1);
    try {
      const stored = image();
      const drawn = stored.data.map((v) => 255 - v);
      const pixels = { ...stored, colourManaged: [{ data: drawn, channels: 3 }] };
      const expected = computePdq(pixels); // before the pool moves the stored pixels away
      expect(expected.shown).toHaveLength(1);
      expect(await within(pool.run(pixels, false), 20_000, 'the job')).toEqual(expected);
    } finally {
      await pool.close();
    }
  });
});
