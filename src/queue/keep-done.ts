/**
 * How long a done job is kept (`keepDoneDays`), bounded for both engines. BullMQ keeps it as a
 * Redis expiry in whole seconds, which Redis refuses past its range (and a huge number is written
 * in exponent notation, which it refuses as no integer): every job would then fail as it
 * completes. Ten years is far beyond what re-enqueueing the same `scanId` needs.
 */
export const MAX_KEEP_DONE_DAYS = 3650;

export const KEEP_DONE_DAYS_RANGE = `Expected more than 0 and at most ${MAX_KEEP_DONE_DAYS} days (ten years)`;

/** `keepDoneDays` as given (defaults to 7); one out of range is refused, naming the range. */
export function keepDoneDaysOf(value: number | undefined): number {
  if (value === undefined) return 7;
  if (typeof value !== 'number' || !(value > 0 && value <= MAX_KEEP_DONE_DAYS)) {
    throw new RangeError(`queue.keepDoneDays: ${KEEP_DONE_DAYS_RANGE}, got ${String(value)}`);
  }
  return value;
}
