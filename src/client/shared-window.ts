import { createHash, randomBytes } from 'node:crypto';
import { PhotoDnaServiceError } from '../errors.js';
import type { Logger } from '../types.js';
import { rateLimiterDownError } from './failures.js';
import type { RedisHandle } from './redis-connection.js';
import { SCRIPTS, type Script } from './redis-scripts.js';

/**
 * The cluster-wide budget behind `rateLimit.redis`: one sliding-window log per subscription key
 * (and API version) in Redis, shared by every process that uses the key, so that all of them
 * together start at most `limit` calls in any window of `windowMs`.
 *
 * - The log is a sorted set (member: one call; score: when it started, in ms of Redis's clock),
 *   trimmed and checked and appended in one Lua script, so two processes can never both take the
 *   last place. Redis's `TIME` is the only clock, so the hosts' clocks need not agree; when it
 *   steps back (or a failover lands on a replica behind), the script takes what lies beyond its
 *   horizon as written just now, so calls wait one window, not the length of the step.
 * - Calls are also spaced `spacingMs` apart on an ideal schedule (as the local limiter does),
 *   so a burst is spread evenly instead of arriving in clumps at each window's start; timer
 *   lateness does not add up, since the next slot follows the previous slot, not the late start.
 * - A call is counted from its granted start and re-dated when its request is written to the
 *   socket (`sent`), as the local window does; one that never left is removed (`forget`). A start
 *   a few ms ahead is granted as a reservation (see `TAKE` in `redis-scripts.ts`), which saves a
 *   round trip and a timer per call.
 * - The Redis keys hold a SHA-256 of the subscription key, never the key.
 * - Every command is bounded (`COMMAND_TIMEOUT_MS`). When Redis fails, `take` throws
 *   `rate-limiter-down` and keeps throwing at once for `FAIL_FAST_MS`; then the next `take` tries
 *   Redis again, so the limiter recovers by itself. A restarted, empty Redis needs no setup.
 */

/** What `LocalRateLimiter` asks of a shared budget. */
export interface SharedBudget {
  /** Takes a place, or says how long to wait before asking again. Throws `rate-limiter-down`. */
  take(): Promise<SharedGrant | { waitMs: number }>;
  /** The error `take` would throw right now without asking Redis (while failing fast). */
  readonly failing: PhotoDnaServiceError | undefined;
  close(): Promise<void>;
}

export interface SharedGrant {
  /** Milliseconds until the granted start (0: now). The call must not start before. */
  delayMs: number;
  /** The request was written to the socket: the call counts from now. */
  sent(): void;
  /** The request never left: give the place back. */
  forget(): void;
}

/** Longest wait for one Redis command, in ms. */
export const COMMAND_TIMEOUT_MS = 1_000;
/** After a failure, `take` fails at once for this long before trying Redis again, in ms. */
export const FAIL_FAST_MS = 1_000;
/** A start at most this far ahead is granted at once, as a reservation, in ms. */
const RESERVE_MS = 10;

export interface RedisWindowSettings {
  redis: RedisHandle;
  apiKey: string;
  apiVersion: 'v1' | 'v2';
  limit: number;
  windowMs: number;
  spacingMs: number;
  logger: Logger;
}

/** The Redis key prefix of one subscription key's budget (a hash tag keeps both keys on one slot). */
export function budgetKeyPrefix(apiKey: string, apiVersion: 'v1' | 'v2'): string {
  const digest = createHash('sha256').update(`photodna-guard\0${apiKey}`).digest('hex');
  return `photodna-guard:rate:{${digest.slice(0, 40)}}:${apiVersion}`;
}

export class RedisWindow implements SharedBudget {
  readonly #settings: RedisWindowSettings;
  readonly #keys: [string, string];
  readonly #clientId = randomBytes(6).toString('hex');
  #counter = 0;
  /** Redis's clock minus our monotonic one (`performance.now()`), from the latest answer (for `notAfter`). */
  #offset: number | undefined;
  #failing: { error: PhotoDnaServiceError; until: number } | undefined;
  #down = false;
  #closed = false;

  constructor(settings: RedisWindowSettings) {
    this.#settings = settings;
    const prefix = budgetKeyPrefix(settings.apiKey, settings.apiVersion);
    this.#keys = [`${prefix}:log`, `${prefix}:next`];
  }

  get failing(): PhotoDnaServiceError | undefined {
    if (this.#failing && performance.now() < this.#failing.until) return this.#failing.error;
    return undefined;
  }

  async take(): Promise<SharedGrant | { waitMs: number }> {
    const failing = this.failing;
    if (failing) throw failing;
    const { limit, windowMs, spacingMs } = this.#settings;
    const member = `${this.#clientId}:${++this.#counter}`;
    const notAfter =
      this.#offset === undefined ? 0 : performance.now() + this.#offset + COMMAND_TIMEOUT_MS;
    let answer: unknown;
    try {
      answer = await this.#run(SCRIPTS.take, this.#keys, [
        limit,
        windowMs,
        spacingMs,
        member,
        Math.round(notAfter),
        RESERVE_MS,
      ]);
    } catch (error) {
      throw this.#failed(error);
    }
    const [granted, now, wait] = Array.isArray(answer) ? answer.map(Number) : [];
    if (now === undefined || !Number.isFinite(now)) {
      throw this.#failed(new TypeError('the rate-limit script answered an unexpected value'));
    }
    this.#offset = now - performance.now();
    this.#recovered();
    if (granted !== 1) return { waitMs: Math.max(1, wait ?? 1) };
    let sent = false;
    return {
      delayMs: Math.max(0, wait ?? 0),
      sent: () => {
        if (sent) return;
        sent = true;
        this.#background(this.#run(SCRIPTS.sent, [this.#keys[0]], [windowMs, member]));
      },
      forget: () => {
        if (sent) return;
        sent = true;
        this.#background(this.#run(SCRIPTS.forget, [this.#keys[0]], [member]));
      },
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.#settings.redis.close();
  }

  /**
   * Runs a script by its SHA-1, sending its source when Redis does not know it (e.g. after a
   * restart); connecting included, bounded by `COMMAND_TIMEOUT_MS` in all.
   */
  async #run(
    { source, sha1 }: Script,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    return bounded(
      (async () => {
        const redis = await this.#settings.redis.client();
        const params = [...keys, ...args];
        try {
          return await redis.evalsha(sha1, keys.length, ...params);
        } catch (error) {
          if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
          return await redis.eval(source, keys.length, ...params);
        }
      })(),
    );
  }

  #failed(error: unknown): PhotoDnaServiceError {
    const down =
      error instanceof PhotoDnaServiceError
        ? error
        : rateLimiterDownError(error instanceof Error ? error.message : String(error), error);
    this.#failing = { error: down, until: performance.now() + FAIL_FAST_MS };
    if (!this.#down && !this.#closed) {
      this.#down = true;
      this.#settings.logger.error(
        { reason: down.reason, err: { name: down.name, message: down.message } },
        'photodna-guard: the shared rate limiter (Redis) is unavailable; PhotoDNA calls fail until it answers again',
      );
    }
    return down;
  }

  #recovered(): void {
    this.#failing = undefined;
    if (!this.#down) return;
    this.#down = false;
    this.#settings.logger.info({}, 'photodna-guard: the shared rate limiter (Redis) answers again');
  }

  /** Fire and forget (re-dating or returning a place); a failure only costs some throughput. */
  #background(work: Promise<unknown>): void {
    work.catch((error: unknown) =>
      this.#settings.logger.debug(
        { err: { message: error instanceof Error ? error.message : String(error) } },
        'photodna-guard: could not update the shared rate-limit window',
      ),
    );
  }
}

/** The promise, or `rate-limiter-down` when it takes longer than `COMMAND_TIMEOUT_MS`. */
function bounded<T>(work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(rateLimiterDownError(`no answer within ${COMMAND_TIMEOUT_MS} ms`)),
      COMMAND_TIMEOUT_MS,
    );
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
