/**
 * One scan-worker process of the queue tests (forked with tsx, never run by vitest): opens the
 * queue the spec names, optionally enqueues the files it lists, runs `createScanWorker` against
 * the emulator, and reports every event to the parent over IPC. `depth` messages answer the
 * queue's depth; `start` starts a worker made with `consume: false`; `release` lets the matches
 * held by `holdMatches` go on.
 */
import { readFile } from 'node:fs/promises';
import { PhotoDnaClient } from '../../src/client/index.js';
import { openScanQueue } from '../../src/queue/index.js';
import { createScanWorker } from '../../src/queue/worker.js';
import type { Matcher } from '../../src/types.js';
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
// With `hangAfter`, the matcher answers that many calls, then hangs (the parent kills the process
// mid-job, before any effect of that job).
let hangAfter = spec.hangAfter;
const client = new PhotoDnaClient({
  apiKey: spec.apiKey,
  baseUrl: spec.baseUrl,
  rateLimit: {
    perSecond: spec.perSecond,
    maxQueue: 10_000,
    ...('redis' in spec.queue ? { redis: spec.queue.redis } : {}),
  },
  retry: { maxAttempts: 8, budgetMs: 60_000 },
});
const inner = client.asMatcher();
const matcher: Matcher = {
  match: (request) => {
    if (hangAfter !== undefined && hangAfter-- <= 0) {
      send({ type: 'hung' });
      return new Promise(() => undefined);
    }
    return inner.match(request);
  },
  close: () => client.close(),
};
/** `holdMatches`: each match's `onMatch` waits here until the parent sends `release`. */
const held: Array<() => void> = [];
const worker = await createScanWorker({
  queue,
  matcher,
  ...(spec.holdMatches ? { onMatch: () => new Promise<void>((go) => held.push(go)) } : {}),
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
worker.on('error', (e) =>
  send({ type: 'event', name: 'error', stage: e.stage, message: e.error.message }),
);
send({ type: 'ready' });

process.on('message', (message: { type: string }) => {
  if (message.type === 'depth') {
    void queue.depth().then((depth) => send({ type: 'depth', ...depth }));
  }
  if (message.type === 'start') worker.start();
  if (message.type === 'release') for (const go of held.splice(0)) go();
  if (message.type === 'close') {
    void worker
      .close()
      .then(() => queue.close())
      .finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
