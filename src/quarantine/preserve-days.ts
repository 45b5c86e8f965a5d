/**
 * How long evidence is kept (`preserveDays`), bounded. A record's `preserveUntil` is a date, and
 * dates end in the year 275760: a period of some 1e8 days runs past it, and every quarantine
 * write would then fail (the guard answering 503 for each match). A hundred years is far beyond
 * any legal preservation period.
 */
import { InvalidOptionsError } from '../errors.js';

export const MAX_PRESERVE_DAYS = 36_500;

export const PRESERVE_DAYS_RANGE = `Expected more than 0 and at most ${MAX_PRESERVE_DAYS} days (a hundred years)`;

function inRange(value: unknown): value is number {
  return typeof value === 'number' && value > 0 && value <= MAX_PRESERVE_DAYS;
}

/** `preserveDays` as given; one out of range (or no number) is refused, naming the range. */
export function preserveDaysOf(value: unknown): number {
  if (!inRange(value)) {
    throw new InvalidOptionsError(
      `quarantine.preserveDays: ${PRESERVE_DAYS_RANGE}, got ${String(value)}`,
      ['quarantine.preserveDays'],
    );
  }
  return value;
}

/**
 * A stored record's own `preserveDays` as read (records are input: an older version, a hand edit):
 * absent stays absent (the store's period applies, as for records of versions that lacked it);
 * one in range as it is; anything else (too large, 0, negative, no number) reads as the maximum.
 * What was meant is unknown, and evidence must never go early because of a corrupt field: the
 * maximum keeps at least as long as any period the store could have been given.
 */
export function storedPreserveDays(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return inRange(value) ? value : MAX_PRESERVE_DAYS;
}
