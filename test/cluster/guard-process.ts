/**
 * One guard process of the cluster tests, started by `guard-processes.ts` (never by vitest): an
 * Express app with `photodnaGuard` sharing its rate limit through Redis. Routes:
 * - `POST /upload`: `guard.any()` (failMode 'closed');
 * - `POST /open`: the same guard with `failMode: 'open'`.
 * Both answer `{ photodna }`. Each `error` event is sent to the parent over IPC.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { photodnaGuard } from '../../src/index.js';
import type { ChildMessage, GuardProcessSpec, ParentMessage } from './guard-processes.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as GuardProcessSpec;
const send = (message: ChildMessage) => process.send?.(message);

const guard = photodnaGuard({
  apiKey: spec.apiKey,
  baseUrl: spec.baseUrl,
  rateLimit: { perSecond: spec.perSecond, redis: spec.redis, maxQueue: 1000 },
  cache: false,
  scanTimeoutMs: spec.scanTimeoutMs,
});
guard.on('error', (event) =>
  send({
    type: 'error-event',
    stage: event.stage,
    ...(event.reason === undefined ? {} : { reason: event.reason }),
    message: event.error.message,
  }),
);

const answer: express.RequestHandler = (req, res) => {
  res.json({ photodna: req.photodna });
};
const app = express();
app.post('/upload', guard.any(), answer);
app.post('/open', guard.route({ failMode: 'open' }).any(), answer);

const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  send({ type: 'ready', url: `http://127.0.0.1:${port}` });
});

process.on('message', (message: ParentMessage) => {
  if (message.type !== 'close') return;
  server.closeAllConnections();
  void Promise.all([new Promise((resolve) => server.close(resolve)), guard.close()]).finally(() =>
    process.exit(0),
  );
});
process.on('disconnect', () => process.exit(0));
