// `photodna-guard/queue`: durable deferred scanning (embedded SQLite or BullMQ) and its worker.
export type { BullmqQueueOptions } from './bullmq.js';
export { QueueRedisError } from './connection-errors.js';
export type { EmbeddedQueueOptions } from './embedded.js';
export type { LoadRef } from './load-ref.js';
export { openScanQueue, type QueueOption } from './open-queue.js';
export { incidentIdOf } from './process-job.js';
export type {
  ClaimedJob,
  EnqueueOptions,
  JobOutcome,
  JobSource,
  QueueDepth,
  QueueEngine,
  ScanJobInput,
  ScanQueue,
  UploaderContext,
} from './types.js';
export { createScanWorker, type ScanWorker, type ScanWorkerOptions } from './worker.js';
