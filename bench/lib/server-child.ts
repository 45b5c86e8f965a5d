/**
 * Entry of the server process (see `server-process.ts`): an Express 5 app with the bare,
 * minimum, required and guarded routes, controlled over IPC. Run only through `startServer`.
 */
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import express from 'express';
import { fileTypeFromBuffer } from 'file-type';
import { imageSize } from 'image-size';
import multer from 'multer';
import { installResultAccessor, showResult } from '../../src/adapters/express-result.js';
import { recordDecision } from '../../src/core/recheck.js';
import { knownImageType } from '../../src/core/sniff.js';
import { readHeader } from '../../src/core/structure.js';
import { type GuardOptions, PhotoDnaClient, photodnaGuard } from '../../src/index.js';
import { type Limits, parseGuardOptions, type RouteConfig } from '../../src/options.js';
import { limitsSchema } from '../../src/route-options.js';
import { PHOTODNA_CALLS_PER_SECOND } from '../../src/service-limits.js';
import type { ImageMimeType, Matcher, MatchResult } from '../../src/types.js';
import { testHasher } from '../../test/helpers/test-hasher.js';
import { HeapSampler } from './heap-sampler.js';
import { RssSampler } from './rss-sampler.js';
import type { FromChild, GuardSpec, ToChild } from './server-process.js';

const spec = JSON.parse(process.argv[2] ?? '{"kind":"instant"}') as GuardSpec;

const instant: Matcher = {
  match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }),
};

function guardOptions(guard: GuardSpec): GuardOptions {
  if (guard.kind === 'instant') return { matcher: instant, cache: false };
  if (guard.perSecond > PHOTODNA_CALLS_PER_SECOND.v2) {
    // Faster than the real service allows (against the emulator with its limit off): the guard
    // refuses such a rate, so the client is built here, as a user with a larger quota would.
    const client = new PhotoDnaClient({
      apiKey: 'bench-subscription-key',
      baseUrl: guard.baseUrl,
      rateLimit: { perSecond: guard.perSecond, maxQueue: guard.maxQueue },
    });
    return {
      matcher: client.asMatcher(),
      fairShare: false,
      cache: guard.cache ? {} : false,
      scanTimeoutMs: guard.scanTimeoutMs,
    };
  }
  return {
    apiKey: 'bench-subscription-key',
    baseUrl: guard.baseUrl,
    // A burst from one loopback client stands for many uploaders: no per-client share.
    fairShare: false,
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

const options = guardOptions(spec);
const guard = photodnaGuard(options);
const handler: express.RequestHandler = (req, res) => {
  res.json({ files: Array.isArray(req.files) ? req.files.length : 0 });
};
/** Bytes copied for image-size: enough for the header of the bench's JPEGs (SOF within 1 KiB). */
const HEADER_BYTES = 4096;

/**
 * The type from the first bytes, the cheapest correct way: the guard's own signature check for
 * JPEG, PNG, GIF and BMP (the answers file-type gives, without its reader), file-type for the rest.
 */
async function sniff(bytes: Buffer): Promise<ImageMimeType> {
  const known = knownImageType(bytes);
  if (known) return known;
  const type = await fileTypeFromBuffer(bytes.subarray(0, 4100));
  if (!type) throw new Error('not an image');
  return type.mime as ImageMimeType;
}

/**
 * The least any guard must do per file, done the cheapest correct way: sniff the type on the
 * first bytes (see `sniff`), read the dimensions from a small header copy (image-size), one
 * SHA-256, one `await` of the same instant matcher. The `minimum` route's baseline.
 */
const minimum: express.RequestHandler = async (req, res, next) => {
  try {
    for (const file of (req.files ?? []) as Express.Multer.File[]) {
      const bytes = file.buffer;
      const mimetype = await sniff(bytes);
      const { width, height } = imageSize(Uint8Array.prototype.slice.call(bytes, 0, HEADER_BYTES));
      const sha256 = hash('sha256', bytes);
      const facts = {
        field: file.fieldname,
        originalname: file.originalname,
        mimetype,
        size: bytes.length,
        width,
        height,
        sha256,
      };
      await instant.match({ bytes, contentType: facts.mimetype, file: facts, signal: SIGNAL });
    }
    handler(req, res, next);
  } catch (error) {
    next(error);
  }
};
const SIGNAL = new AbortController().signal;

/** Requests taken, off the request object (as the guard keeps them). */
const taken = new WeakSet<object>();
/** The route's settings, kept with each decision for a later guard (the guard's own defaults). */
const ROUTE: RouteConfig = parseGuardOptions(options);

/**
 * `minimum` plus the work the guard's other promises make mandatory, done the cheapest way, in
 * one function: multer with the guard's default limits (files, parts, sizes: SPEC 3.3's 413s),
 * mounted before it; the request marked taken; one deadline timer
 * (`scanTimeoutMs`) and a watch for the uploader leaving (`res` 'close'), both raced against
 * the matcher's answer; the end of the JPEG found (`trailingData: 'strip'`, issue 11) and the
 * facts and hash taken of the image alone; the per-file record and the decision kept for a
 * later guard, which `req.photodna` reads through the accessor on Express's request prototype
 * (the cheapest way there is to set it: `src/adapters/express-result.ts`). The `required` route:
 * guarded / required is the cost of the library's structure alone.
 */
const required: express.RequestHandler = async (req, res, next) => {
  taken.add(req);
  installResultAccessor(req);
  let stop: ((reason: Error) => void) | undefined;
  let stopped: Error | undefined;
  const end = (reason: Error) => {
    stopped ??= reason;
    stop?.(reason);
  };
  res.on('close', () => {
    if (!res.writableEnded) end(new Error('the uploader left'));
  });
  const timer = setTimeout(() => end(new Error('deadline')), DEADLINE_MS);
  try {
    const files = [];
    for (const file of (req.files ?? []) as Express.Multer.File[]) {
      const upload = file.buffer;
      const mimetype = await sniff(upload);
      const header = readHeader(upload, 'image/jpeg');
      const bytes = header.end < upload.length ? upload.subarray(0, header.end) : upload;
      const facts = {
        field: file.fieldname,
        originalname: file.originalname,
        mimetype,
        size: bytes.length,
        width: header.width,
        height: header.height,
        sha256: hash('sha256', bytes),
      };
      const answer = await new Promise<MatchResult>((resolve, reject) => {
        if (stopped) return reject(stopped);
        stop = reject;
        instant
          .match({ bytes, contentType: facts.mimetype, file: facts, signal: SIGNAL })
          .then(resolve, reject);
      });
      files.push({
        field: facts.field,
        originalname: facts.originalname,
        mimetype: facts.mimetype,
        size: facts.size,
        width: facts.width,
        height: facts.height,
        sha256: facts.sha256,
        isMatch: answer.isMatch,
        matchFlags: answer.matchFlags,
        trackingId: answer.trackingId,
      });
      file.mimetype = facts.mimetype;
      file.buffer = bytes;
    }
    clearTimeout(timer);
    const photodna = { status: 'clean' as const, files };
    recordDecision(req, ROUTE, photodna, NONE_FLAGGED);
    showResult(req, photodna);
    handler(req, res, next);
  } catch (error) {
    clearTimeout(timer);
    next(error);
  }
};
/** No match was let through under 'flag' (the decision's record of them). */
const NONE_FLAGGED: readonly never[] = [];
/** The guard's default `scanTimeoutMs`. */
const DEADLINE_MS = 30_000;

/** The guard's limits as multer's options (the `required` route parses with multer, as `minimum`). */
function multerLimits(limits: Limits): multer.Options['limits'] {
  return {
    fileSize: limits.maxFileSize,
    files: limits.maxFiles,
    fields: limits.maxFields,
    fieldSize: limits.maxFieldSize,
    fieldNameSize: limits.maxFieldNameSize,
    parts: limits.maxParts,
    fieldNestingDepth: limits.maxFieldDepth,
    fieldArrayIndexLimit: limits.maxArrayIndex,
  };
}

const app = express();
app.post('/bare', multer().any(), handler);
app.post('/minimum', multer().any(), minimum);
app.post('/required', multer({ limits: multerLimits(limitsSchema.parse({})) }).any(), required);
app.post('/guarded', guard.any(), handler);
// The paired bench's control: the minimum route again, its own multer, the same function.
app.post('/minimum-copy', multer().any(), minimum);

/** Full (mark-compact) collections so far, from V8's GC performance entries. */
let majorGcs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const { kind } = (entry as unknown as { detail: { kind: number } }).detail;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
  }
}).observe({ entryTypes: ['gc'] });

const sampler = new RssSampler(10);
/** The sampling heap profiler's inspector session, opened by the first `heap-start`. */
let heap: HeapSampler | undefined;
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
    case 'gc':
      (globalThis as { gc?: () => void }).gc?.();
      send({ type: 'collected' });
      return;
    case 'heap-start':
      heap ??= new HeapSampler();
      await heap.start();
      send({ type: 'heap-sampling' });
      return;
    case 'heap-stop':
      if (!heap) throw new Error("'heap-stop' before 'heap-start'");
      send({ type: 'heap', sample: await heap.stop() });
      return;
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', micros: user + system, mainMicros: mainThreadMicros(), majorGcs });
      return;
    }
    case 'close':
      heap?.close();
      server.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        guard.close(),
        sampler.close(),
      ]);
      process.exit(0);
  }
}

/**
 * The main thread's CPU time so far, in µs (Linux: `/proc/self/task/<pid>/schedstat`, in ns), so
 * a round's CPU splits into the request's own work and V8's helper threads (GC, compiler).
 * Undefined where the file is missing.
 */
function mainThreadMicros(): number | undefined {
  try {
    const [ns] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'latin1').split(' ');
    return Number(ns) / 1000;
  } catch {
    return undefined;
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
