/**
 * One scan-worker process of the queue tests (forked with tsx, never run by vitest): opens the
 * queue the spec names, optionally enqueues the files it lists, runs `createScanWorker` against
 * the emulator, and reports every event to the parent over IPC. `depth` messages answer the
 * queue's depth.
 */
import { readFile } from 'node:fs/promises';
import { openScanQueue } from '../../src/queue/index.js';
import { createScanWorker } from '../../src/queue/worker.js';
import type { ChildMessage, WorkerSpec } from './worker-processes.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as WorkerSpec;
const send = (message: ChildMessage) => process.send?.(message);

const queue = await openScanQueue(spec.queue);
for (const job of spec.enqueue ?? []) {
  await queue.enqueue({
    scanId: job.scanId,
    source: { kind: 'bytes', bytes: await readFile(job.path) },
    originalname: job.scanId,
    metadata: { post: job.scanId },
    uploader: { route: '/upload', ip: '203.0.113.9' },
  });
}
send({ type: 'enqueued' });
const worker = await createScanWorker({
  queue,
  apiKey: spec.apiKey,
  baseUrl: spec.baseUrl,
  rateLimit: { perSecond: spec.perSecond },
  client: { retry: { maxAttempts: 8, budgetMs: 60_000 } },
  quarantine: { dir: spec.quarantineDir },
  concurrency: spec.concurrency,
  autoStart: spec.consume !== false,
});
worker.on('scan', (e) =>
  send({ type: 'event', name: 'scan', scanId: e.scanId, outcome: e.outcome, deferred: e.deferred }),
);
worker.on('match', (e) =>
  send({ type: 'event', name: 'match', scanId: e.scanId, id: e.id, quarantineId: e.quarantineId }),
);
worker.on('quarantine', (e) => send({ type: 'event', name: 'quarantine', id: e.record.id }));
worker.on('error', (e) => send({ type: 'event', name: 'error', message: e.error.message }));
send({ type: 'ready' });

process.on('message', (message: { type: string }) => {
  if (message.type === 'depth') {
    void queue.depth().then((depth) => send({ type: 'depth', ...depth }));
  }
  if (message.type === 'close') {
    void worker
      .close()
      .then(() => queue.close())
      .finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
