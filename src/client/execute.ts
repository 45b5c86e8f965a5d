import type { Pool } from 'undici';
import { PhotoDnaServiceError } from '../errors.js';
import type { Logger } from '../types.js';
import { type AttemptMessage, attemptChannel } from './diagnostics.js';
import { afterAttempts, closedError, malformedError, timeoutError } from './failures.js';
import {
  type HttpRequest,
  type HttpResponse,
  type HttpSettings,
  post,
  transportFailure,
} from './http.js';
import type { RateLimiter, Slot } from './limiter.js';
import { nextRetryDelay, type RetrySettings } from './retry.js';

/**
 * One operation, start to finish: every attempt takes a slot from the rate limiter, failures are
 * classified, and transient ones are retried with backoff until the attempts, the time budget or
 * the caller's signal run out.
 */

export type Operation = 'match' | 'match-url' | 'match-hash' | 'report';

export interface Job<T> {
  operation: Operation;
  /**
   * The request, or a function that builds it once a rate-limiter slot is granted (a MatchHash
   * batch keeps gathering hashes until then); it is called again for each retry.
   */
  request: HttpRequest | (() => HttpRequest);
  /**
   * `false` for Report: it is resent only when the request provably never reached the service
   * (connection refused, connect timeout, 429).
   */
  idempotent: boolean;
  /** Turns an answer into the result, or throws a `PhotoDnaServiceError`. */
  parse(response: HttpResponse): T;
}

export interface ExecuteContext {
  pool: Pool;
  limiter: RateLimiter;
  http: HttpSettings;
  retry: RetrySettings;
  logger: Logger;
  /** Aborted by `close()`: ends backoff waits. */
  closing: AbortSignal;
  /** The client's `clientIdentity`, on its attempt messages. */
  identity: object;
}

type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; error: PhotoDnaServiceError; resendSafe: boolean };

const CONFIGURATION_REASONS = new Set(['unauthorized', 'quota-exceeded', 'bad-request']);

export async function execute<T>(
  context: ExecuteContext,
  job: Job<T>,
  signal?: AbortSignal,
): Promise<T> {
  const started = performance.now();
  try {
    for (let attempt = 1; ; attempt++) {
      const outcome = await attemptOnce(context, job, attempt, signal);
      if (outcome.ok) return outcome.value;
      const { error, resendSafe } = outcome;
      const delay = nextRetryDelay(
        { retryable: error.retryable, resendSafe, retryAfter: error.retryAfter },
        attempt,
        performance.now() - started,
        context.retry,
      );
      const facts = describe(job.operation, attempt, error);
      if (delay === undefined) {
        logFinal(context.logger, facts, error);
        throw afterAttempts(error, attempt);
      }
      context.logger.warn(
        { ...facts, delayMs: delay },
        'photodna-guard: PhotoDNA call failed; retrying',
      );
      await sleep(delay, signal, context.closing);
    }
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw error;
  }
}

async function attemptOnce<T>(
  context: ExecuteContext,
  job: Job<T>,
  attempt: number,
  signal: AbortSignal | undefined,
): Promise<Outcome<T>> {
  const slot = await context.limiter.acquire({ signal, retry: attempt > 1 });
  const started = performance.now();
  const outcome = await sendOnce(context, job, slot, signal);
  if (attemptChannel.hasSubscribers) {
    const message: AttemptMessage = {
      client: context.identity,
      operation: job.operation,
      attempt,
      httpStatus: outcome.ok ? 200 : outcome.error.httpStatus,
      ok: outcome.ok,
      reason: outcome.ok ? undefined : outcome.error.reason,
      durationMs: performance.now() - started,
    };
    attemptChannel.publish(message);
  }
  return outcome;
}

async function sendOnce<T>(
  context: ExecuteContext,
  job: Job<T>,
  slot: Slot,
  signal: AbortSignal | undefined,
): Promise<Outcome<T>> {
  // The slot is given back only once the answer is read: a 429's pause must be in place before
  // the limiter, woken by the release, starts the caller waiting for this connection.
  try {
    const request = typeof job.request === 'function' ? job.request() : job.request;
    let response: HttpResponse;
    try {
      response = await post(context.pool, request, context.http, signal, slot.sent);
    } catch (error) {
      if (signal?.aborted) throw error;
      const failure = transportFailure(error, context.http);
      return { ok: false, error: failure.error, resendSafe: job.idempotent || failure.notSent };
    }
    try {
      return { ok: true, value: job.parse(response) };
    } catch (thrown) {
      // Anything else reading the answer throws comes from the answer too (a RangeError from
      // JSON nested deeper than the stack): a malformed answer, retried as one, not a raw error.
      const error =
        thrown instanceof PhotoDnaServiceError
          ? thrown
          : malformedError(`JSON that could not be read (${errorName(thrown)})`, {
              httpStatus: response.status,
              cause: thrown,
            });
      // Held back no longer than any retry would wait (the budget): one 429 with a huge
      // Retry-After (parsed up to a day) must not stall every later call that long.
      if (error.httpStatus === 429 && error.retryAfter)
        context.limiter.pause(Math.min(error.retryAfter * 1000, context.retry.budgetMs));
      return { ok: false, error, resendSafe: job.idempotent || error.httpStatus === 429 };
    }
  } finally {
    slot.release();
  }
}

/**
 * What the caller's abort becomes: the scan deadline (`AbortSignal.timeout`) is a
 * `SCAN_UNAVAILABLE` timeout; any other reason (the uploader went away) is rethrown as is.
 */
function abortError(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === 'TimeoutError') {
    return timeoutError('The scan deadline passed before PhotoDNA answered.', reason);
  }
  return reason;
}

function sleep(ms: number, signal: AbortSignal | undefined, closing: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    if (closing.aborted) return reject(closedError());
    const done = (error?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      closing.removeEventListener('abort', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => done(signal?.reason);
    const onClose = () => done(closedError());
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    closing.addEventListener('abort', onClose, { once: true });
  });
}

function describe(operation: Operation, attempt: number, error: PhotoDnaServiceError) {
  return {
    operation,
    attempt,
    reason: error.reason,
    guardCode: error.guardCode,
    httpStatus: error.httpStatus,
    statusCode: error.statusCode,
    trackingId: error.trackingId,
    message: error.message,
  };
}

function logFinal(
  logger: Logger,
  facts: ReturnType<typeof describe>,
  error: PhotoDnaServiceError,
): void {
  if (error.reason !== undefined && CONFIGURATION_REASONS.has(error.reason)) {
    logger.error(facts, 'photodna-guard: PhotoDNA refused the call (a configuration problem)');
  } else if (error.guardCode === 'SCAN_UNAVAILABLE') {
    logger.warn(facts, 'photodna-guard: PhotoDNA call failed');
  } else {
    logger.debug(facts, 'photodna-guard: PhotoDNA refused the file');
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
