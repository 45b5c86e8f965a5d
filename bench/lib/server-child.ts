/**
 * Entry of the server process (see `server-process.ts`): an Express 5 app with a bare multer
 * route and a guarded route, controlled over IPC. Run only through `startServer`.
 */
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import express from 'express';
import multer from 'multer';
import { type GuardOptions, photodnaGuard } from '../../src/index.js';
import type { Matcher } from '../../src/types.js';
import { testHasher } from '../../test/helpers/test-hasher.js';
import { RssSampler } from './rss-sampler.js';
import type { FromChild, GuardSpec, ToChild } from './server-process.js';

const spec = JSON.parse(process.argv[2] ?? '{"kind":"instant"}') as GuardSpec;

const instant: Matcher = {
  match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }),
};

function guardOptions(guard: GuardSpec): GuardOptions {
  if (guard.kind === 'instant') return { matcher: instant, cache: false };
  return {
    apiKey: 'bench-subscription-key',
    baseUrl: guard.baseUrl,
    cache: guard.cache ? {} : false,
    rateLimit: {
      perSecond: guard.perSecond,
      maxQueue: guard.maxQueue,
      ...(guard.redis === undefined ? {} : { redis: guard.redis }),
    },
    scanTimeoutMs: guard.scanTimeoutMs,
    ...(guard.hasher === undefined
      ? {}
      : { hasher: testHasher, batchWindowMs: guard.hasher.windowMs }),
  };
}

const guard = photodnaGuard(guardOptions(spec));
const handler: express.RequestHandler = (req, res) => {
  res.json({ files: Array.isArray(req.files) ? req.files.length : 0 });
};
const app = express();
app.post('/bare', multer().any(), handler);
app.post('/guarded', guard.any(), handler);

const sampler = new RssSampler(10);
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  send({ type: 'ready', origin: `http://127.0.0.1:${port}` });
});
let baseline = 0;

process.on('message', (message: ToChild) => {
  void handle(message);
});

async function handle(message: ToChild): Promise<void> {
  switch (message.type) {
    case 'sample-start':
      baseline = await settledRss();
      sampler.start();
      send({ type: 'sampling', baseline });
      return;
    case 'sample-stop':
      send({ type: 'sample', baseline, peak: await sampler.stop() });
      return;
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', micros: user + system });
      return;
    }
    case 'close':
      server.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        guard.close(),
        sampler.close(),
      ]);
      process.exit(0);
  }
}

/** RSS after full garbage collections, once the heap has had a moment to settle. */
async function settledRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await delay(50);
  }
  return process.memoryUsage.rss();
}

function send(message: FromChild): void {
  process.send?.(message);
}
