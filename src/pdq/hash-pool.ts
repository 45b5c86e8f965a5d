/**
 * The PDQ math off the main thread: at full resolution a 4-megapixel image costs far more than
 * an event-loop tick (see bench/README.md), so hashing runs in a small pool of worker threads.
 * Workers start on first use and are unref'd, so an idle pool never keeps the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PdqComputed, PdqDihedral } from './compute.js';
import type { RawImage } from './luma.js';

export interface HashJob extends RawImage {
  id: number;
  dihedral: boolean;
}

export type HashReply =
  | { id: number; result: PdqComputed | PdqDihedral; error?: undefined }
  | { id: number; error: string; result?: undefined };

interface Pending {
  resolve(result: PdqComputed | PdqDihedral): void;
  reject(error: Error): void;
}

/**
 * Starts the worker from dist (installed), or from source when this module runs as TypeScript
 * (tests, benchmarks): then the worker first registers tsx's loader, which it does not inherit.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./hash-worker.js', import.meta.url));
  const entry = new URL('./hash-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true });
}

class PooledWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();

  constructor(onExit: (self: PooledWorker) => void) {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (reply: HashReply) => {
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.error !== undefined) pending.reject(new Error(`PDQ worker: ${reply.error}`));
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
  #nextId = 1;
  #closed = false;

  /** `size` defaults to the available parallelism minus one (at least 1, at most 4). */
  constructor(size = Math.min(4, Math.max(1, availableParallelism() - 1))) {
    this.size = size;
  }

  run(image: RawImage, dihedral: false): Promise<PdqComputed>;
  run(image: RawImage, dihedral: true): Promise<PdqDihedral>;
  run(image: RawImage, dihedral: boolean): Promise<PdqComputed | PdqDihedral> {
    if (this.#closed) return Promise.reject(new Error('PDQ hash pool is closed'));
    const target = this.#pick();
    const id = this.#nextId++;
    // Transfer the pixels when they own their memory; copy them otherwise (pooled Buffers).
    const owns =
      image.data.byteOffset === 0 && image.data.byteLength === image.data.buffer.byteLength;
    const data = owns ? image.data : image.data.slice();
    const job: HashJob = {
      id,
      dihedral,
      data,
      width: image.width,
      height: image.height,
      channels: image.channels,
    };
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.ref();
      try {
        target.worker.postMessage(job, [data.buffer as ArrayBuffer]);
      } catch {
        // Some external buffers (native addons) cannot be transferred: send a copy.
        target.worker.postMessage({ ...job, data: Uint8Array.prototype.slice.call(data) });
      }
    });
  }

  #pick(): PooledWorker {
    if (this.#workers.length < this.size) {
      const idle = this.#workers.find((w) => w.pending.size === 0);
      if (idle) return idle;
      const worker = new PooledWorker((dead) => {
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
