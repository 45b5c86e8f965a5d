/**
 * The PDQ math off the main thread: at full resolution a 4-megapixel image costs far more than
 * an event-loop tick (see bench/README.md), so hashing runs in a small pool of worker threads.
 * Workers start on first use and are unref'd, so an idle pool never keeps the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InvalidOptionsError } from '../errors.js';
import type { ImageMimeType } from '../types.js';
import type { PdqComputed, PdqDihedral } from './compute.js';
import { PdqDecodeError, type PdqDecodeErrorKind } from './decode.js';
import type { RawImage } from './luma.js';
import { SharpMissingError } from './sharp.js';

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

/** The worker's error as the class the calling code expects. */
function revive(error: WorkerError): Error {
  if (error.name === 'SharpMissingError') return new SharpMissingError(new Error(error.message));
  if (error.kind) return new PdqDecodeError(error.kind, error.message);
  return new Error(`PDQ worker: ${error.message}`);
}

interface Pending {
  resolve(result: PdqComputed | PdqDihedral): void;
  reject(error: Error): void;
  deadline: NodeJS.Timeout;
}

/**
 * How long a job may go unanswered before its worker is taken for wedged (a decode that never
 * returns) and replaced. Far above the slowest sound job: the math costs about 0.25 s per
 * megapixel on a slow core and the decode a fifth of that (bench/README.md), so an image of the
 * default `maxPixels` (100 megapixels) takes about 30 s, and the process's decoding budget
 * (core/pixel-budget.ts) lets about that many pixels into the pool at once.
 */
export const HASH_JOB_TIMEOUT_MS = 120_000;
/** The longest delay `setTimeout` honours (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The worker script: from dist when installed, from source when this module runs as TypeScript. */
const WORKER_SCRIPT = new URL(
  import.meta.url.endsWith('.ts') ? './hash-worker.ts' : './hash-worker.js',
  import.meta.url,
);

/**
 * Starts a worker on `script`. A TypeScript script (tests, benchmarks) first registers tsx's
 * loader in the worker, which does not inherit it.
 */
function startWorker(script: URL): Worker {
  if (!script.pathname.endsWith('.ts')) return new Worker(script);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(script.href)}); });`;
  return new Worker(boot, { eval: true });
}

export interface HashPoolOptions {
  /**
   * A job unanswered after this many milliseconds fails, and its worker is terminated (with any
   * other job in it) and replaced, so a wedged decode cannot hold the pool. Defaults to
   * `HASH_JOB_TIMEOUT_MS` (120 s).
   */
  jobTimeoutMs?: number;
  /**
   * @internal The worker script, for tests only (a worker that wedges). Defaults to the real one.
   */
  workerScript?: URL;
}

class PooledWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  readonly #onGone: (self: PooledWorker) => void;
  readonly #onAnswer: () => void;

  constructor(
    script: URL,
    timeoutMs: number,
    onGone: (self: PooledWorker) => void,
    onAnswer: () => void,
  ) {
    this.#timeoutMs = timeoutMs;
    this.#onGone = onGone;
    this.#onAnswer = onAnswer;
    this.worker = startWorker(script);
    this.worker.unref();
    this.worker.on('message', (reply: HashReply) => {
      const pending = this.#take(reply.id);
      if (!pending) return;
      this.#onAnswer();
      if (reply.error !== undefined) pending.reject(revive(reply.error));
      else pending.resolve(reply.result);
    });
    const fail = (error: Error) => {
      for (const id of [...this.pending.keys()]) this.#take(id)?.reject(error);
      onGone(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`PDQ worker exited with code ${code}`)));
  }

  /** Registers job `id` before it is posted; the worker stays ref'd while any job is in it. */
  expect(id: number, resolve: Pending['resolve'], reject: Pending['reject']): void {
    const deadline = setTimeout(() => {
      this.#take(id)?.reject(
        new Error(`PDQ worker: no answer within ${this.#timeoutMs} ms; the worker was replaced`),
      );
      this.#retire();
    }, this.#timeoutMs);
    // The ref'd worker keeps the process alive until the deadline; the timer need not.
    deadline.unref();
    this.pending.set(id, { resolve, reject, deadline });
    this.worker.ref();
  }

  #take(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.deadline);
    if (this.pending.size === 0) this.worker.unref();
    return pending;
  }

  /**
   * A wedged worker leaves the pool at once (the next job starts a fresh one) and is terminated;
   * the other jobs in it fail as it exits (they would have waited behind the wedged one).
   */
  #retire(): void {
    this.#onGone(this);
    void this.worker.terminate();
  }
}

/** A fixed-size pool; each job goes to the worker with the fewest jobs in flight. */
export class HashPool {
  readonly size: number;
  #workers: PooledWorker[] = [];
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

  /** Jobs given to the pool and not settled yet. */
  get pending(): number {
    let count = 0;
    for (const w of this.#workers) count += w.pending.size;
    return count;
  }

  /** Jobs a worker answered (hashed, or failed to decode) since the pool was made. */
  get completed(): number {
    return this.#completed;
  }

  /**
   * Hashes decoded pixels in a worker. Pixels that own their whole ArrayBuffer are transferred
   * (the caller's view is detached afterwards); others are copied once.
   */
  run(image: RawImage, dihedral: false): Promise<PdqComputed>;
  run(image: RawImage, dihedral: true): Promise<PdqDihedral>;
  run(image: RawImage, dihedral: boolean): Promise<PdqComputed | PdqDihedral> {
    const { data, width, height, channels } = image;
    return this.#post({ kind: 'pixels', id: 0, dihedral, data, width, height, channels }, data);
  }

  /**
   * Decodes and hashes encoded image bytes in a worker (the bytes are copied once; the caller's
   * buffer is left alone). `type` and the pixel count must have been checked by `inspectImage`;
   * `maxPixels` is the header's pixel count (see `decodePixels`).
   */
  runBytes(
    bytes: Uint8Array,
    type: ImageMimeType,
    maxPixels: number,
    dihedral: boolean,
  ): Promise<PdqComputed | PdqDihedral> {
    const copy = Uint8Array.prototype.slice.call(bytes) as Uint8Array;
    return this.#post({ kind: 'bytes', id: 0, dihedral, bytes: copy, type, maxPixels }, copy);
  }

  #post(job: HashJob, payload: Uint8Array): Promise<PdqComputed | PdqDihedral> {
    if (this.#closed) return Promise.reject(new Error('PDQ hash pool is closed'));
    const target = this.#pick();
    job.id = this.#nextId++;
    const owns = payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength;
    return new Promise((resolve, reject) => {
      try {
        if (!owns) throw new Error('a view into a larger buffer');
        target.worker.postMessage(job, [payload.buffer as ArrayBuffer]);
      } catch {
        // A view into a pool, or memory owned by a native addon (sharp's output): transfer a copy
        // (one memcpy), rather than letting postMessage clone it (a copy on each side).
        const copy = Uint8Array.prototype.slice.call(payload) as Uint8Array;
        const field = job.kind === 'pixels' ? 'data' : 'bytes';
        target.worker.postMessage({ ...job, [field]: copy }, [copy.buffer as ArrayBuffer]);
      }
      // Registered once posted (a job that could not be posted has no deadline to leave behind);
      // the answer comes in a later event, never before this.
      target.expect(job.id, resolve, reject);
    });
  }

  #pick(): PooledWorker {
    if (this.#workers.length < this.size) {
      const idle = this.#workers.find((w) => w.pending.size === 0);
      if (idle) return idle;
      const worker = new PooledWorker(
        this.#script,
        this.#jobTimeoutMs,
        (dead) => {
          this.#workers = this.#workers.filter((w) => w !== dead);
        },
        () => {
          this.#completed += 1;
        },
      );
      this.#workers.push(worker);
      return worker;
    }
    let best = this.#workers[0] as PooledWorker;
    for (const w of this.#workers) if (w.pending.size < best.pending.size) best = w;
    return best;
  }

  /** Stops every worker; jobs in flight reject. */
  async close(): Promise<void> {
    this.#closed = true;
    const workers = this.#workers;
    this.#workers = [];
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}
