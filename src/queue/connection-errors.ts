import type { UnavailableReason } from '../errors.js';
import type { GuardEvents } from '../events.js';
import { redact } from '../redact.js';

/** Least time between two reports of a connection that keeps failing. */
const REPORT_EVERY_MS = 30_000;

/** A listener of a queue's connection failures, told why (`connectionReason`). */
export type ConnectionListener = (error: Error, reason: UnavailableReason) => void;

/**
 * A queue's Redis connection failing (unreachable, refusing the password): reported to its
 * listeners, at most once per 30 s while it lasts (ioredis retries every few seconds), with the
 * URL's user name and password removed from the message, and the reason it failed.
 */
export class ConnectionErrors {
  readonly #listeners = new Set<ConnectionListener>();
  readonly #secrets: string[];
  #lastMs = Number.NEGATIVE_INFINITY;

  constructor(redis: unknown) {
    this.#secrets = typeof redis === 'string' ? credentialsOf(redis) : [];
  }

  listen(listener: ConnectionListener): void {
    this.#listeners.add(listener);
  }

  /** For the `error` events of BullMQ's queue and worker, and of our own connection. */
  readonly report = (error: unknown): void => {
    const now = Date.now();
    if (now - this.#lastMs < REPORT_EVERY_MS || this.#listeners.size === 0) return;
    this.#lastMs = now;
    const reported = this.clean(error);
    for (const listener of this.#listeners) listener(reported, reported.reason);
  };

  /**
   * A failure of the queue's Redis as it may be shown: a new error of its message alone, the
   * URL's credentials removed, no `cause` (ioredis's errors carry the command and its arguments).
   */
  clean(error: unknown): QueueRedisError {
    if (error instanceof QueueRedisError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new QueueRedisError(redact(message, this.#secrets), connectionReason(error));
  }
}

/**
 * A queue engine's connection failures as `error` events (stage `queue`), for a scan worker and
 * for a guard that only enqueues. Engines without a connection (embedded) report nothing.
 */
export function reportConnectionErrors(
  engine: { onConnectionError?(listener: ConnectionListener): void },
  events: GuardEvents,
): void {
  engine.onConnectionError?.((error, reason) =>
    events.emit('error', { error, stage: 'queue', reason }),
  );
}

/**
 * Why a Redis request or connection failed: `unauthorized` when Redis refused the credentials or
 * the user's rights (its own NOAUTH, WRONGPASS and NOPERM replies), `server-error` for any other
 * reply of Redis (it answered, with an error: loading, out of memory, a read-only replica), else
 * `network` (no answer: refused, reset, unreachable, closed).
 */
export function connectionReason(error: unknown): UnavailableReason {
  if (error instanceof QueueRedisError) return error.reason;
  const message = error instanceof Error ? error.message : String(error);
  if (/\b(NOPERM|NOAUTH|WRONGPASS)\b/.test(message)) return 'unauthorized';
  return error instanceof Error && error.name === 'ReplyError' ? 'server-error' : 'network';
}

/** A failure of the queue's Redis as shown: its message, credentials removed, and why it failed. */
export class QueueRedisError extends Error {
  /** What Redis or ioredis said, credentials removed. */
  readonly detail: string;
  readonly reason: UnavailableReason;

  constructor(detail: string, reason: UnavailableReason) {
    super(`the queue's Redis: ${detail}`);
    this.name = 'QueueRedisError';
    this.detail = detail;
    this.reason = reason;
  }
}

/** The user name and password of a `redis://` URL, as written and decoded. */
export function credentialsOf(url: string): string[] {
  try {
    const { username, password } = new URL(url);
    return [username, password]
      .filter((part) => part.length > 0)
      .flatMap((part) => [part, decodeURIComponent(part)]);
  } catch {
    return [];
  }
}
