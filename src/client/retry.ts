/**
 * Retry decisions, as pure functions: which failures are worth another attempt, how long to wait
 * (exponential backoff with full jitter, never less than the service's `Retry-After`), and when the
 * attempts or the time budget are spent.
 */

export interface RetrySettings {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The whole time one operation may spend on attempts and waits. */
  budgetMs: number;
}

/** What the retry policy needs to know about one failed attempt. */
export interface FailedAttempt {
  /** Whether the failure is transient (429, 5xx, 3004, resets, timeouts, malformed answers). */
  retryable: boolean;
  /**
   * Whether sending the request again is safe: always for idempotent operations; for Report only
   * when the request provably never reached the service (connection refused, 429).
   */
  resendSafe: boolean;
  /** Seconds the service asked us to wait (`Retry-After`). */
  retryAfter?: number | undefined;
}

/**
 * The delay before attempt `attempt + 1` after `attempt` attempts failed: a random value in
 * `[0, min(maxDelayMs, baseDelayMs * 2^(attempt-1)))` ("full jitter").
 */
export function backoffDelay(
  attempt: number,
  settings: Pick<RetrySettings, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(
    settings.maxDelayMs,
    settings.baseDelayMs * 2 ** Math.max(0, attempt - 1),
  );
  return Math.floor(random() * ceiling);
}

/**
 * Milliseconds to wait before the next attempt, or `undefined` when the operation must give up:
 * the failure is permanent, resending is unsafe, the attempts are spent, or waiting would overrun
 * the budget. A `Retry-After` is honoured (plus a little jitter, so that callers that were told the
 * same thing do not come back in the same millisecond).
 */
export function nextRetryDelay(
  failure: FailedAttempt,
  attempt: number,
  elapsedMs: number,
  settings: RetrySettings,
  random: () => number = Math.random,
): number | undefined {
  if (!failure.retryable || !failure.resendSafe) return undefined;
  if (attempt >= settings.maxAttempts) return undefined;
  const backoff = backoffDelay(attempt, settings, random);
  const delay =
    failure.retryAfter === undefined
      ? backoff
      : Math.max(backoff, failure.retryAfter * 1000 + Math.floor(random() * settings.baseDelayMs));
  if (elapsedMs + delay >= settings.budgetMs) return undefined;
  return delay;
}

const MAX_RETRY_AFTER_SECONDS = 24 * 60 * 60;

/**
 * When the answer was sent, by the service's clock (its `Date` header): the `now` to read an
 * HTTP-date `Retry-After` against, since that date is on the service's clock and ours may be
 * minutes off (a wait read ten minutes long would give the call up and hold every other call for
 * the whole budget). Our clock when the answer has no valid `Date`.
 */
export function answeredAt(date: string | string[] | undefined, now: number = Date.now()): number {
  const value = Array.isArray(date) ? date[0] : date;
  const sent = value === undefined ? Number.NaN : Date.parse(value);
  return Number.isNaN(sent) ? now : sent;
}

/**
 * Seconds from a `Retry-After` header (delta-seconds or an HTTP date), or from an API Management
 * message such as "Rate limit is exceeded. Try again in 2 seconds.". `undefined` when neither says.
 */
export function parseRetryAfter(
  header: string | string[] | undefined,
  message?: unknown,
  now: number = Date.now(),
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined && value.trim() !== '') {
    const text = value.trim();
    if (/^\d+$/.test(text)) return clampSeconds(Number(text));
    const date = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN;
    if (!Number.isNaN(date)) return clampSeconds(Math.ceil((date - now) / 1000));
  }
  if (typeof message === 'string') {
    const found = /try again in (\d+) seconds?/i.exec(message);
    if (found?.[1] !== undefined) return clampSeconds(Number(found[1]));
  }
  return undefined;
}

function clampSeconds(seconds: number): number {
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, seconds));
}
