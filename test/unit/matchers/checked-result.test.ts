import { describe, expect, it } from 'vitest';
import { checkedResult } from '../../../src/matchers/checked-result.js';

/** A custom matcher's answer is always checked; the common "no match" answer skips zod only. */
describe('checkedResult', () => {
  it('the plain no-match answer: a new object of the known fields only', () => {
    const answer = { isMatch: false, trackingId: 't1', matchFlags: [], extra: 'dropped' };
    const checked = checkedResult(answer);
    expect(checked).toEqual({ isMatch: false, trackingId: 't1', matchFlags: [] });
    expect(checked).not.toBe(answer);
    expect(checked.matchFlags).not.toBe(answer.matchFlags);
  });

  it('reads each field once: a getter cannot answer "no match" to the check and then "match"', () => {
    let reads = 0;
    const answer = {
      get isMatch() {
        reads += 1;
        return reads > 1;
      },
      trackingId: 't',
      matchFlags: [],
    };
    expect(checkedResult(answer).isMatch).toBe(false);
    expect(reads).toBe(1);
  });

  it('answers with flags or PDQ facts go through the schema, fields kept', () => {
    const pdq = { hash: 'a'.repeat(64), quality: 90 };
    expect(checkedResult({ isMatch: false, trackingId: 't', matchFlags: [], pdq })).toEqual({
      isMatch: false,
      trackingId: 't',
      matchFlags: [],
      pdq,
    });
    const flag = { source: 'list', violations: ['x'] };
    expect(checkedResult({ isMatch: true, trackingId: 't', matchFlags: [flag] })).toEqual({
      isMatch: true,
      trackingId: 't',
      matchFlags: [flag],
    });
  });

  it.each([
    ['null', null],
    ['a string', 'clean'],
    ['the raw PhotoDNA JSON', { IsMatch: false }],
    ['isMatch as a string', { isMatch: 'false', trackingId: 't', matchFlags: [] }],
    ['no trackingId', { isMatch: false, matchFlags: [] }],
    ['no matchFlags', { isMatch: false, trackingId: 't' }],
    ['matchFlags not an array', { isMatch: false, trackingId: 't', matchFlags: {} }],
    [
      'a malformed PDQ hash',
      { isMatch: false, trackingId: 't', matchFlags: [], pdq: { hash: 'x' } },
    ],
  ])('%s is never read as clean: SCAN_UNAVAILABLE', (_, answer) => {
    expect(() => checkedResult(answer)).toThrow(
      expect.objectContaining({ code: 'SCAN_UNAVAILABLE' }),
    );
  });
});
