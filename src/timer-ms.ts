import { z } from 'zod';

/** The longest delay Node's timers keep: a longer one fires after 1 ms, with a warning. */
export const TIMER_MAX_MS = 2_147_483_647;

/**
 * An option in whole ms that a timer is set to, from `min`: at most `TIMER_MAX_MS` (about 24.8
 * days). A longer one would fire at once: a `scanTimeoutMs` so long would time out every check
 * (under `failMode: 'open'`, let every upload through unchecked).
 */
export function timerMs(min = 1) {
  return z
    .number()
    .int()
    .min(min)
    .max(TIMER_MAX_MS, {
      error: `Expected at most ${TIMER_MAX_MS} ms (about 24.8 days, a timer's longest delay)`,
    });
}
