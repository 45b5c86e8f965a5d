import { redact } from '../redact.js';

/** Least time between two reports of a connection that keeps failing. */
const REPORT_EVERY_MS = 30_000;

/**
 * A queue's Redis connection failing (unreachable, refusing the password): reported to its
 * listeners, at most once per 30 s while it lasts (ioredis retries every few seconds), with the
 * URL's user name and password removed from the message.
 */
export class ConnectionErrors {
  readonly #listeners = new Set<(error: Error) => void>();
  readonly #secrets: string[];
  #lastMs = Number.NEGATIVE_INFINITY;

  constructor(redis: unknown) {
    this.#secrets = typeof redis === 'string' ? credentialsOf(redis) : [];
  }

  listen(listener: (error: Error) => void): void {
    this.#listeners.add(listener);
  }

  /** For the `error` events of BullMQ's queue and worker. */
  readonly report = (error: unknown): void => {
    const now = Date.now();
    if (now - this.#lastMs < REPORT_EVERY_MS || this.#listeners.size === 0) return;
    this.#lastMs = now;
    const message = error instanceof Error ? error.message : String(error);
    const reported = new Error(`the queue's Redis: ${redact(message, this.#secrets)}`);
    for (const listener of this.#listeners) listener(reported);
  };
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
