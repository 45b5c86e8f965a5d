import type { PhotoDnaServiceError } from '../errors.js';
import type { PhotoDnaClient } from './client.js';
import { closedError } from './failures.js';
import type { MatchResponse } from './responses.js';

/**
 * Gathers hashes from concurrent requests into MatchHash calls of up to five, so that one
 * rate-limiter slot checks five files instead of one.
 *
 * - The first hash opens a batch; after `windowMs` (or at once when five are waiting) the batch
 *   asks the client for a slot. It keeps taking hashes until the slot is granted, so under load
 *   (when the limiter makes it wait) batches leave full, and at low load a hash waits at most
 *   `windowMs` more than with a plain Match.
 * - Each hash gets its own outcome: the service's result for it, or its own error (a per-hash
 *   3002). A failure of the whole call (after the client's retries) fails every hash of it.
 * - A caller whose signal aborts before its batch is sent leaves the batch (a batch left empty
 *   gives up its place in the limiter queue and spends nothing); after that it only stops
 *   waiting, and a sent batch whose callers have all gone is cancelled.
 */
export class MatchHashBatcher {
  readonly #client: PhotoDnaClient;
  readonly #windowMs: number;
  readonly #size: number;
  /** The batch new hashes join: not yet sent and not full. */
  #open: Batch | undefined;
  readonly #waiting = new Set<Batch>();
  #closed = false;

  constructor(client: PhotoDnaClient, options: { windowMs: number; size: number }) {
    this.#client = client;
    this.#windowMs = options.windowMs;
    this.#size = options.size;
  }

  /** Matches one base64 PhotoDNA hash in the next batch. */
  match(hash: string, signal: AbortSignal): Promise<MatchResponse> {
    if (this.#closed) return Promise.reject(closedError());
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<MatchResponse>((resolve, reject) => {
      const batch = this.#open ?? this.#openBatch();
      batch.add(new Caller(hash, signal, resolve, reject, batch));
      if (batch.callers.length >= this.#size) {
        this.#open = undefined;
        batch.launch();
      }
    });
  }

  /** Fails the hashes of batches not yet sent; sent ones end with the client. */
  close(): Promise<void> {
    this.#closed = true;
    this.#open = undefined;
    for (const batch of [...this.#waiting]) if (!batch.sent) batch.fail(closedError());
    return Promise.resolve();
  }

  #openBatch(): Batch {
    const batch = new Batch(this.#client, {
      windowMs: this.#windowMs,
      onSealed: () => {
        if (this.#open === batch) this.#open = undefined;
      },
      onDone: () => this.#waiting.delete(batch),
    });
    this.#open = batch;
    this.#waiting.add(batch);
    return batch;
  }
}

class Caller {
  #settled = false;
  readonly #onAbort: () => void;

  constructor(
    readonly hash: string,
    readonly signal: AbortSignal,
    readonly resolve: (result: MatchResponse) => void,
    readonly reject: (error: unknown) => void,
    batch: Batch,
  ) {
    this.#onAbort = () => {
      this.settle(undefined, signal.reason);
      batch.left(this);
    };
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  get settled(): boolean {
    return this.#settled;
  }

  settle(result: MatchResponse | undefined, error?: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.signal.removeEventListener('abort', this.#onAbort);
    if (result) this.resolve(result);
    else this.reject(error);
  }
}

class Batch {
  callers: Caller[] = [];
  /** The callers whose hashes were sent, once a slot was granted. */
  #sealed: Caller[] | undefined;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #launched = false;

  constructor(
    readonly client: PhotoDnaClient,
    readonly hooks: { windowMs: number; onSealed(): void; onDone(): void },
  ) {
    this.#timer = setTimeout(() => this.launch(), hooks.windowMs);
  }

  add(caller: Caller): void {
    this.callers.push(caller);
  }

  /** Asks for a slot; hashes still join until it is granted. */
  launch(): void {
    clearTimeout(this.#timer);
    if (this.#launched) return;
    this.#launched = true;
    this.client
      .matchHashBatch(() => this.#seal(), { signal: this.#abort.signal })
      .then(
        (outcomes) => this.#deliver(outcomes),
        (error: unknown) => this.fail(error),
      );
  }

  /** A caller's signal aborted. */
  left(caller: Caller): void {
    if (this.#sealed) {
      // Sent already: cancel the call only when nobody waits for it any more.
      if (this.#sealed.every((c) => c.settled)) this.#abort.abort(caller.signal.reason);
      return;
    }
    this.callers = this.callers.filter((c) => c !== caller);
    if (this.callers.length === 0) {
      clearTimeout(this.#timer);
      this.hooks.onSealed();
      this.hooks.onDone();
      this.#abort.abort(caller.signal.reason);
    }
  }

  get sent(): boolean {
    return this.#sealed !== undefined;
  }

  /** Fails every caller still waiting; a batch not yet sent never will be. */
  fail(error: unknown): void {
    clearTimeout(this.#timer);
    this.hooks.onSealed();
    this.hooks.onDone();
    if (!this.#sealed) this.#abort.abort(error);
    for (const caller of this.#sealed ?? this.callers) caller.settle(undefined, error);
  }

  #seal(): string[] {
    this.#sealed ??= this.callers;
    this.hooks.onSealed();
    return this.#sealed.map((caller) => caller.hash);
  }

  #deliver(outcomes: Array<MatchResponse | PhotoDnaServiceError>): void {
    this.hooks.onDone();
    (this.#sealed ?? []).forEach((caller, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error || outcome === undefined) caller.settle(undefined, outcome);
      else caller.settle(outcome);
    });
  }
}
