import { openScanQueue, type QueueOption } from './open-queue.js';
import type { EnqueueOptions, QueueDepth, QueueEngine, ScanJobInput, ScanQueue } from './types.js';

/**
 * A queue from its option, opened in the background (the guard is built synchronously): every
 * call waits for the opening, and an opening failure is each call's failure.
 */
export class LazyQueue implements ScanQueue {
  readonly engine: 'embedded' | 'bullmq';
  readonly opened: Promise<QueueEngine>;

  constructor(option: QueueOption) {
    this.engine = 'redis' in option ? 'bullmq' : 'embedded';
    this.opened = openScanQueue(option);
    this.opened.catch(() => undefined);
  }

  async enqueue(input: ScanJobInput, options?: EnqueueOptions): Promise<{ scanId: string }> {
    return (await this.opened).enqueue(input, options);
  }

  async release(holdId: string, scanIds: readonly string[]): Promise<void> {
    return (await this.opened).release?.(holdId, scanIds);
  }

  async withdraw(holdId: string, scanIds: readonly string[]): Promise<void> {
    return (await this.opened).withdraw?.(holdId, scanIds);
  }

  async depth(): Promise<QueueDepth> {
    return (await this.opened).depth();
  }

  async close(): Promise<void> {
    const queue = await this.opened.catch(() => undefined);
    await queue?.close();
  }
}
