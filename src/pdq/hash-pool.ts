/**
 * The PDQ math off the main thread: at full resolution a 4-megapixel image costs far more than
 * an event-loop tick (see bench/README.md), so hashing runs in a small pool of worker threads.
 * Workers start on first use and are unref'd, so an idle pool never keeps the process alive.
 * Each worker takes one job at a time; the others wait in the pool's queue, where the caller's
 * signal can still withdraw them: no worker decodes an image whose uploader has left.
 */
import { availableParallelism } from 'node:os';
import { InvalidOptionsError } from '../errors.js';
import type { ImageMimeType } from '../types.js';
import type { PdqComputed, PdqDihedral } from './compute.js';
import type { PdqDecodeErrorKind } from './decode.js';
import type { RawImage } from './luma.js';
import { PooledWorker } from './pooled-worker.js';

/** Decoded pixels to hash, or encoded bytes to decode and hash. */
export type HashJob = { id: number; dihedral: boolean } & (
  | ({ kind: 'pixels' } & RawImage)
  | { kind: 'bytes'; bytes: Uint8Array; type: ImageMimeType; maxPixels: number }
);

export interface WorkerError {
  name: string;
  message: string;
  kind?: PdqDecodeErrorKind;
}

export type HashReply =
  | { id: number; result: PdqComputed | PdqDihedral; error?: undefined }
  | { id: number; error: WorkerError; result?: undefined };

/**
 * How long a started job may go unanswered before its worker is taken for wedged (a decode that
 * never returns) and replaced. One pass of the math costs about 0.25 s per megapixel on a core
 * shared eight to ten times over (bench/README.md, pdq-hash; far less on an idle one) and the
 * decode a fifth of that, so an image of the default `maxPixels` (100 megapixels) takes about
 * 30 s hashed as stored. A translucent one is also hashed over a white and a black page (three
 * passes, about 100 s on such a machine), and so is each colour-managed drawing that changes its
 * pixels (an ICC profile, decoded a second time; a PNG's gAMA/cHRM): up to seven passes. Kept at
 * 120 s all the same, since a wedged worker holds its slot this long (every PDQ check waits behind
 * it on a two-core machine, which has one worker), and a job that times out is an unchecked file,
 * refused under `failMode: 'closed'`. Time in the pool's queue is not counted: a worker runs one
 * job at a time.
 */
export const HASH_JOB_TIMEOUT_MS = 120_000;
/** The longest delay `setTimeout` honours (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The worker script: from dist when installed, from source when this module runs as TypeScript. */
const WORKER_SCRIPT = new URL(
  import.meta.url.endsWith('.ts') ? './hash-worker.ts' : './hash-worker.js',
  import.meta.url,
);

export interface HashPoolOptions {
  /**
   * A started job unanswered after this many milliseconds fails, and its worker is terminated and
   * replaced, so a wedged decode cannot hold the pool. Defaults to
   * `HASH_JOB_TIMEOUT_MS` (120 s).
   */
  jobTimeoutMs?: number;
  /**
   * @internal The worker script, for tests only (a worker that wedges). Defaults to the real one.
   */
  workerScript?: URL;
}

/** A job waiting in the pool's queue for a free worker; its pixels or bytes own their buffer. */
interface Queued {
  job: HashJob;
  resolve(result: PdqComputed | PdqDihedral): void;
  reject(error: Error): void;
}

/**
 * `data` in a buffer of its own, for transfer to a worker: its buffer moved (the caller's view is
 * detached) when `data` owns all of it and it can move, else a copy. Memory owned by a native
 * addon (sharp's output) cannot move; a view into a pool must not.
 */
function ownBuffer(data: Uint8Array, move: boolean): Uint8Array {
  if (move && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) {
    try {
      return structuredClone(data, { transfer: [data.buffer as ArrayBuffer] });
    } catch {
      // not transferable: copied below
    }
  }
  return Uint8Array.prototype.slice.call(data) as Uint8Array;
}

/**
 * A fixed-size pool: each worker takes one job at a time, in the order they came. A job whose
 * `signal` aborts while it waits leaves the queue and rejects with the signal's reason, unseen by
 * any worker; one already started runs to its end (terminating a worker costs more than
 * finishing the job), and its answer is dropped: it rejects with the signal's reason too.
 */
export class HashPool {
  readonly size: number;
  #workers: PooledWorker[] = [];
  readonly #queue: Queued[] = [];
  readonly #script: URL;
  readonly #jobTimeoutMs: number;
  #nextId = 1;
  #closed = false;
  #completed = 0;

  /** `size` defaults to the available parallelism minus one (at least 1, at most 4). */
  constructor(
    size = Math.min(4, Math.max(1, availableParallelism() - 1)),
    options: HashPoolOptions = {},
  ) {
    this.size = size;
    this.#script = options.workerScript ?? WORKER_SCRIPT;
    const timeout = options.jobTimeoutMs ?? HASH_JOB_TIMEOUT_MS;
    if (!(typeof timeout === 'number' && timeout > 0 && timeout <= MAX_TIMER_MS)) {
      throw new InvalidOptionsError(
        `jobTimeoutMs must be a positive number of milliseconds, at most ${MAX_TIMER_MS}`,
        ['jobTimeoutMs'],
      );
    }
    this.#jobTimeoutMs = timeout;
  }

  /** Jobs given to the pool and not settled yet: waiting for a worker or in one. */
  get pending(): number {
    let count = this.#queue.length;
    for (const w of this.#workers) count += w.pending.size;
    return count;
  }

  /** Jobs a worker answered (hashed, or failed to decode) since the pool was made. */
  get completed(): number {
    return this.#completed;
  }

  /**
   * Hashes decoded pixels in a worker. Pixels that own their whole ArrayBuffer are transferred
   * (the caller's view is detached at once); others, and colour-managed drawings, are copied
   * once. `signal` withdraws the job.
   */
  run(image: RawImage, dihedral: false, signal?: AbortSignal): Promise<PdqComputed>;
  run(image: RawImage, dihedral: true, signal?: AbortSignal): Promise<PdqDihedral>;
  run(
    image: RawImage,
    dihedral: boolean,
    signal?: AbortSignal,
  ): Promise<PdqComputed | PdqDihedral> {
    const { width, height, channels, orientation, colourManaged } = image;
    if (this.#closed || signal?.aborted) return this.#refuse(signal);
    const data = ownBuffer(image.data, true);
    // Colour-managed drawings (rare) are copied with the job, not moved.
    const pixels = {
      data,
      width,
      height,
      channels,
      ...(orientation ? { orientation } : {}),
      ...(colourManaged ? { colourManaged } : {}),
    };
    return this.#post({ kind: 'pixels', id: 0, dihedral, ...pixels }, signal);
  }

  /**
   * Decodes and hashes encoded image bytes in a worker (the bytes are copied once; the caller's
   * buffer is left alone). `type` and the pixel count must have been checked by `inspectImage`;
   * `maxPixels` is the header's pixel count (see `decodePixels`). `signal` withdraws the job.
   */
  runBytes(
    bytes: Uint8Array,
    type: ImageMimeType,
    maxPixels: number,
    dihedral: boolean,
    signal?: AbortSignal,
  ): Promise<PdqComputed | PdqDihedral> {
    if (this.#closed || signal?.aborted) return this.#refuse(signal);
    const copy = ownBuffer(bytes, false);
    return this.#post({ kind: 'bytes', id: 0, dihedral, bytes: copy, type, maxPixels }, signal);
  }

  #refuse(signal: AbortSignal | undefined): Promise<never> {
    if (this.#closed) return Promise.reject(new Error('PDQ hash pool is closed'));
    return Promise.reject(signal?.reason);
  }

  /** Queues `job`; with a `signal`, its listener is removed however the job settles. */
  #post(job: HashJob, signal: AbortSignal | undefined): Promise<PdqComputed | PdqDihedral> {
    job.id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (!signal) {
        this.#queue.push({ job, resolve, reject });
        this.#dispatch();
        return;
      }
      const queued: Queued = {
        job,
        resolve: (result) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) reject(signal.reason);
          else resolve(result);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(signal.aborted ? signal.reason : error);
        },
      };
      // Still queued: withdrawn. Started: it settles when its worker answers (see above).
      const onAbort = () => {
        const at = this.#queue.indexOf(queued);
        if (at === -1) return;
        this.#queue.splice(at, 1);
        queued.reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(queued);
      this.#dispatch();
    });
  }

  /** Starts queued jobs, oldest first, while a worker is free or another may start. */
  #dispatch(): void {
    while (!this.#closed && this.#queue.length > 0) {
      const worker = this.#free();
      if (!worker) return;
      const next = this.#queue.shift() as Queued;
      const { job } = next;
      const payload = job.kind === 'pixels' ? job.data : job.bytes;
      try {
        worker.worker.postMessage(job, [payload.buffer as ArrayBuffer]);
      } catch (error) {
        next.reject(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      // Registered once posted (a job that could not be posted has no deadline to leave behind);
      // the answer comes in a later event, never before this.
      worker.expect(job.id, next.resolve, next.reject);
    }
  }

  /** A worker without a job, started if the pool has room for one; none when all are busy. */
  #free(): PooledWorker | undefined {
    const idle = this.#workers.find((w) => w.pending.size === 0);
    if (idle || this.#workers.length >= this.size) return idle;
    const worker = new PooledWorker(
      this.#script,
      this.#jobTimeoutMs,
      (gone) => {
        this.#workers = this.#workers.filter((w) => w !== gone);
        this.#dispatch();
      },
      () => {
        this.#completed += 1;
        this.#dispatch();
      },
    );
    this.#workers.push(worker);
    return worker;
  }

  /** Stops every worker; jobs in flight or waiting reject at once, with the same error. */
  async close(): Promise<void> {
    this.#closed = true;
    const error = new Error('PDQ hash pool is closed');
    for (const queued of this.#queue.splice(0)) queued.reject(error);
    const workers = this.#workers;
    this.#workers = [];
    await Promise.all(workers.map((w) => w.close(error)));
  }
}
