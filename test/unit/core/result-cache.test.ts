import { describe, expect, it } from 'vitest';
import { signalWaiter } from '../../../src/core/abortable.js';
import { ResultCache } from '../../../src/core/result-cache.js';
import type { MatchResult } from '../../../src/types.js';

const clean: MatchResult = { isMatch: false, trackingId: 'c', matchFlags: [] };
const match: MatchResult = {
  isMatch: true,
  trackingId: 'm',
  matchFlags: [{ source: 'Test', violations: ['A1'] }],
};
const never = signalWaiter(new AbortController().signal);

describe('ResultCache', () => {
  it('keeps clean results and matches for their own TTLs', () => {
    const cache = new ResultCache({ max: 10, cleanTtlMs: 100, matchTtlMs: 1000 });
    cache.set('a', clean, 0);
    cache.set('b', match, 0);
    expect(cache.get('a', 99)).toEqual(clean);
    expect(cache.get('a', 100)).toBeUndefined();
    expect(cache.get('b', 999)).toEqual(match);
    expect(cache.get('b', 1000)).toBeUndefined();
  });

  it('evicts the least recently used entry past max', () => {
    const cache = new ResultCache({ max: 2, cleanTtlMs: 1000, matchTtlMs: 1000 });
    cache.set('a', clean, 0);
    cache.set('b', clean, 0);
    cache.get('a', 1); // a is now the most recent
    cache.set('c', clean, 2);
    expect(cache.get('b', 3)).toBeUndefined();
    expect(cache.get('a', 3)).toEqual(clean);
    expect(cache.size).toBe(2);
  });

  it('a TTL of 0 disables caching of that kind', () => {
    const cache = new ResultCache({ max: 10, cleanTtlMs: 0, matchTtlMs: 1000 });
    cache.set('a', clean, 0);
    expect(cache.get('a', 0)).toBeUndefined();
  });

  it('clear() forgets every result, and a call answered after it does not fill the cache', async () => {
    const cache = new ResultCache({ max: 10, cleanTtlMs: 1000, matchTtlMs: 1000 });
    cache.set('a', clean);
    cache.set('b', match);
    let answer: (result: MatchResult) => void = () => {};
    const before = cache.lookup('c', () => new Promise((r) => (answer = r)), never);
    cache.clear();
    expect([cache.get('a'), cache.get('b'), cache.size]).toEqual([undefined, undefined, 0]);
    // A lookup after the clear does not join the call started before it.
    let calls = 0;
    const after = cache.lookup(
      'c',
      async () => {
        calls++;
        return match;
      },
      never,
    );
    answer(clean);
    expect((await before).result).toEqual(clean);
    expect(await after).toEqual({ result: match, cached: false });
    expect(calls).toBe(1);
    expect(cache.get('c')).toEqual(match); // not the answer of the call from before the clear
  });

  it('shares one fetch between concurrent lookups of the same bytes and never caches a failure', async () => {
    const cache = new ResultCache({ max: 10, cleanTtlMs: 1000, matchTtlMs: 1000 });
    let calls = 0;
    const fetch = async () => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 20));
      return clean;
    };
    const [a, b] = await Promise.all([
      cache.lookup('x', fetch, never),
      cache.lookup('x', fetch, never),
    ]);
    expect(calls).toBe(1);
    expect([a.cached, b.cached]).toEqual([false, true]);
    await expect(cache.lookup('y', () => Promise.reject(new Error('down')), never)).rejects.toThrow(
      'down',
    );
    expect((await cache.lookup('y', fetch, never)).cached).toBe(false);
  });

  it("another request's failure on shared bytes is not passed on: the waiter fetches for itself", async () => {
    const cache = new ResultCache({ max: 10, cleanTtlMs: 1000, matchTtlMs: 1000 });
    const first = cache.lookup(
      'x',
      () =>
        new Promise<MatchResult>((_, reject) => setTimeout(() => reject(new Error('left')), 10)),
      never,
    );
    const second = cache.lookup('x', async () => match, never);
    await expect(first).rejects.toThrow('left');
    expect(await second).toEqual({ result: match, cached: false });
  });
});

describe('ResultCache: what it hands out is a copy', () => {
  it('a caller editing its result (or what it stored) changes no later hit', async () => {
    const cache = new ResultCache({ max: 10, cleanTtlMs: 1000, matchTtlMs: 1000 });
    const stored: MatchResult = structuredClone({
      ...match,
      matchFlags: [{ source: 'Test', violations: ['A1'], matchId: '42' }],
      pdq: { hash: 'a'.repeat(64), quality: 90 },
    });
    const expected = structuredClone(stored);
    const first = await cache.lookup('k', async () => stored, never);
    expect(first.cached).toBe(false);
    // The caller's own object, then a hit's, edited the way a host might before logging.
    for (const handed of [first.result, cache.get('k') as MatchResult]) {
      delete handed.matchFlags[0]?.matchId;
      handed.matchFlags[0]?.violations.push('edited');
      handed.matchFlags.push({ source: 'Edited', violations: [] });
      if (handed.pdq) handed.pdq.quality = 0;
      handed.trackingId = 'edited';
    }
    expect(cache.get('k')).toEqual(expected);
    expect((await cache.lookup('k', async () => clean, never)).result).toEqual(expected);
  });

  it('callers sharing one call in flight each get their own copy', async () => {
    const cache = new ResultCache({ max: 10, cleanTtlMs: 1000, matchTtlMs: 1000 });
    let answer: (result: MatchResult) => void = () => {};
    const first = cache.lookup('k', () => new Promise((r) => (answer = r)), never);
    const second = cache.lookup('k', async () => clean, never);
    answer(structuredClone(match));
    const [a, b] = await Promise.all([first, second]);
    expect(b.cached).toBe(true);
    a.result.matchFlags.length = 0;
    expect(b.result).toEqual(match);
  });
});
