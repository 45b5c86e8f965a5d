/**
 * The PDQ math off the main thread: at full resolution a 4-megapixel image costs far more than
 * an event-loop tick (see bench/README.md), so hashing runs in a small pool of worker threads.
 * Workers start on first use and are unref'd, so an idle pool never keeps the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
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
}

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
   * @internal The worker script, for tests only (a worker that wedges). Defaults to the real one.
   */
  workerScript?: URL;
}

class PooledWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();

  constructor(script: URL, onExit: (self: PooledWorker) => void) {
    this.worker = startWorker(script);
    this.worker.unref();
    this.worker.on('message', (reply: HashReply) => {
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.error !== undefined) pending.reject(revive(reply.error));
      else pending.resolve(reply.result);
    });
    const fail = (error: Error) => {
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
      onExit(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`PDQ worker exited with code ${code}`)));
  }
}

/** A fixed-size pool; each job goes to the worker with the fewest jobs in flight. */
export class HashPool {
  readonly size: number;
  #workers: PooledWorker[] = [];
  readonly #script: URL;
  #nextId = 1;
  #closed = false;

  /** `size` defaults to the available parallelism minus one (at least 1, at most 4). */
  constructor(
    size = Math.min(4, Math.max(1, availableParallelism() - 1)),
    options: HashPoolOptions = {},
  ) {
    this.size = size;
    this.#script = options.workerScript ?? WORKER_SCRIPT;
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
      target.pending.set(job.id, { resolve, reject });
      target.worker.ref();
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
    });
  }

  #pick(): PooledWorker {
    if (this.#workers.length < this.size) {
      const idle = this.#workers.find((w) => w.pending.size === 0);
      if (idle) return idle;
      const worker = new PooledWorker(this.#script, (dead) => {
        this.#workers = this.#workers.filter((w) => w !== dead);
      });
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
