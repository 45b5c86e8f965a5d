import { describe, expect, it } from 'vitest';
import { composeMatchers } from '../../../src/matchers/compose.js';
import type { Matcher, MatchRequest, MatchResult } from '../../../src/types.js';

/**
 * Each back end's answer is checked before two are joined: a host's matcher answering something
 * that is not a MatchResult (here the raw service's `IsMatch`) is refused alone, and must not be
 * made well formed, and so "clean", by the join with PDQ.
 */
const odd: Matcher = {
  match: async () =>
    ({
      IsMatch: true,
      trackingId: 't1',
      matchFlags: [{ source: 'Test', violations: ['A1'] }],
    }) as unknown as MatchResult,
};
const cleanPdq: Matcher = {
  match: async () => ({ isMatch: false, trackingId: 'pdq', matchFlags: [] }),
};
const matchingPdq: Matcher = {
  match: async () => ({
    isMatch: true,
    trackingId: 'pdq',
    matchFlags: [{ source: 'list', violations: [], algorithm: 'pdq' }],
  }),
};
const request = { signal: new AbortController().signal } as MatchRequest;

describe('composeMatchers: an odd answer from one back end', () => {
  it.each(['both', 'fallback'] as const)(
    '%s: joined with a clean PDQ answer it is unchecked (SCAN_UNAVAILABLE), never clean',
    async (mode) => {
      const composed = composeMatchers(odd, cleanPdq, { mode, primaryIsPhotoDna: false });
      await expect(composed.match(request)).rejects.toMatchObject({
        code: 'SCAN_UNAVAILABLE',
        reason: 'malformed-response',
      });
    },
  );

  it.each(['both', 'fallback'] as const)('%s: a PDQ match still counts', async (mode) => {
    const composed = composeMatchers(odd, matchingPdq, { mode, primaryIsPhotoDna: false });
    await expect(composed.match(request)).resolves.toMatchObject({ isMatch: true });
  });

  it('both: an odd PDQ answer beside a clean primary one is unchecked too', async () => {
    const composed = composeMatchers(cleanPdq, odd, { mode: 'both', primaryIsPhotoDna: false });
    await expect(composed.match(request)).rejects.toMatchObject({ code: 'SCAN_UNAVAILABLE' });
  });
});
