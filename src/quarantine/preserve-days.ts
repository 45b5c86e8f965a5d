/**
 * How long evidence is kept (`preserveDays`), bounded. A record's `preserveUntil` is a date, and
 * dates end in the year 275760: a period of some 1e8 days runs past it, and every quarantine
 * write would then fail (the guard answering 503 for each match). A hundred years is far beyond
 * any legal preservation period.
 */
import { InvalidOptionsError } from '../errors.js';

export const MAX_PRESERVE_DAYS = 36_500;

export const PRESERVE_DAYS_RANGE = `Expected more than 0 and at most ${MAX_PRESERVE_DAYS} days (a hundred years)`;

/** `preserveDays` as given; one out of range (or no number) is refused, naming the range. */
export function preserveDaysOf(value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= MAX_PRESERVE_DAYS)) {
    throw new InvalidOptionsError(
      `quarantine.preserveDays: ${PRESERVE_DAYS_RANGE}, got ${String(value)}`,
      ['quarantine.preserveDays'],
    );
  }
  return value;
}
