import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { GuardError } from '../../../src/errors.js';
import { boundedCall } from '../../../src/queue/bounded-call.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A call that never answers and ignores its signal (a hung matcher or `load(ref)`). */
const hanging = () => new Promise<never>(() => {});

describe('boundedCall', () => {
  it('ends at its deadline also when the heap is collected meanwhile', async () => {
    // Node 20 collects an `AbortSignal.timeout` that only an `AbortSignal.any` refers to, unfired:
    // the job would wait on its hung call for good.
    const closing = new AbortController().signal;
    const calls = Array.from({ length: 20 }, () =>
      boundedCall(hanging, {
        closing,
        timeoutMs: 100,
        what: 'the matcher',
        budget: 'scanTimeoutMs',
      }),
    );
    // Awaited from the start: with both cores busy, the collections below can outlast the
    // deadline, and a rejection with nobody awaiting it yet is an unhandled one.
    const settling = Promise.allSettled(calls);
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const settled = await settling;
    for (const result of settled) {
      expect(result.status).toBe('rejected');
      const { reason } = result as PromiseRejectedResult;
      expect(reason).toBeInstanceOf(GuardError);
      expect(reason).toMatchObject({ code: 'SCAN_UNAVAILABLE', reason: 'timeout' });
    }
  }, 15_000);

  it('ends at once when the worker closes', async () => {
    const closing = new AbortController();
    const call = boundedCall(hanging, {
      closing: closing.signal,
      timeoutMs: 60_000,
      what: 'load(ref)',
      budget: 'download.timeoutMs',
    });
    closing.abort();
    await expect(call).rejects.toMatchObject({
      code: 'SCAN_UNAVAILABLE',
      detail: 'the worker closed while load(ref) ran',
    });
  });

  it('answers what the call answers, and its own failure as it is', async () => {
    const closing = new AbortController().signal;
    const bounds = { closing, timeoutMs: 60_000, what: 'the matcher', budget: 'scanTimeoutMs' };
    await expect(boundedCall(async () => 42, bounds)).resolves.toBe(42);
    const failure = new Error('service said no');
    await expect(
      boundedCall(async () => {
        throw failure;
      }, bounds),
    ).rejects.toBe(failure);
  });
});
