/**
 * One worker thread of `HashPool`: starts it (with tsx's loader for a TypeScript script), times
 * its job (a wedged worker is retired), and revives the errors it answers.
 */
import { Worker } from 'node:worker_threads';
import type { PdqComputed, PdqDihedral } from './compute.js';
import { PdqDecodeError } from './decode.js';
import type { HashReply, WorkerError } from './hash-pool.js';
import { SharpMissingError } from './sharp.js';

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
 * Starts a worker on `script`. A TypeScript script (tests, benchmarks) first registers tsx's
 * loader in the worker, which does not inherit it.
 */
function startWorker(script: URL): Worker {
  if (!script.pathname.endsWith('.ts')) return new Worker(script);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(script.href)}); });`;
  return new Worker(boot, { eval: true });
}

/**
 * One worker thread and its job in flight (one at a time). `onAnswer` is told when the worker
 * answered its job and is free again, `onGone` when it left the pool (exited, or wedged).
 */
export class PooledWorker {
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
      if (reply.error !== undefined) pending.reject(revive(reply.error));
      else pending.resolve(reply.result);
      this.#onAnswer();
    });
    const fail = (error: Error) => {
      for (const id of [...this.pending.keys()]) this.#take(id)?.reject(error);
      onGone(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`PDQ worker exited with code ${code}`)));
  }

  /** Registers job `id` once posted; the worker stays ref'd while any job is in it. */
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

  /**
   * Stops the worker for a closing pool: its job in flight rejects with `error` at once, not
   * with the exit that the termination causes later (until then the pool, which has let go of
   * this worker, would count the job as settled).
   */
  close(error: Error): Promise<number> {
    for (const id of [...this.pending.keys()]) this.#take(id)?.reject(error);
    return this.worker.terminate();
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
   * A wedged worker leaves the pool at once (the jobs waiting in the pool's queue go to a fresh
   * one) and is terminated.
   */
  #retire(): void {
    this.#onGone(this);
    void this.worker.terminate();
  }
}
