import { Worker } from 'node:worker_threads';

/**
 * Samples this process's RSS every `intervalMs` from a worker thread, so that a busy main event
 * loop (parsing uploads) cannot delay the samples and hide the peak. The worker is started up
 * front, so its own memory is part of any baseline taken afterwards.
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let peak = 0;
let timer;
const sample = () => { const rss = process.memoryUsage.rss(); if (rss > peak) peak = rss; };
parentPort.on('message', (message) => {
  if (message === 'start') { peak = 0; sample(); timer = setInterval(sample, workerData.intervalMs); }
  if (message === 'stop') { clearInterval(timer); sample(); parentPort.postMessage(peak); }
});
`;

export class RssSampler {
  readonly #worker: Worker;

  constructor(intervalMs = 10) {
    this.#worker = new Worker(SOURCE, { eval: true, workerData: { intervalMs } });
  }

  start(): void {
    this.#worker.postMessage('start');
  }

  /** Stops sampling and resolves to the highest RSS seen, in bytes. */
  stop(): Promise<number> {
    return new Promise((resolve) => {
      this.#worker.once('message', (peak: number) => resolve(peak));
      this.#worker.postMessage('stop');
    });
  }

  close(): Promise<number> {
    return this.#worker.terminate();
  }
}
