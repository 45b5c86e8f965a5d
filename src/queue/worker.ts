/**
 * `createScanWorker(options)`: runs deferred scan jobs from a queue at the configured rate and
 * acts on them exactly as the synchronous guard does: the same `scan` / `match` / `quarantine`
 * / `reject` / `error` events (with `deferred: true` and the `scanId`), the same quarantine store
 * and reporting, the same rate budget (with BullMQ, the Redis limit shared with every guard).
 */
import { clientIdentity } from '../client/diagnostics.js';
import { PhotoDnaClient } from '../client/index.js';
import type { PhotoDnaClientOptions } from '../client/options.js';
import type { RedisClientLike } from '../client/redis-connection.js';
import { scopeOf, shareScope } from '../core/diagnostics-scope.js';
import { logEvents } from '../core/log-events.js';
import type { MatchEvent } from '../events.js';
import { type GuardEventName, GuardEvents, type Listener } from '../events.js';
import { type Limits, limitsSchema, type RouteConfig } from '../options.js';
import { createFileQuarantineStore } from '../quarantine/fs-store.js';
import type { QuarantineStore } from '../quarantine/types.js';
import { assertReporterDefaultsFit } from '../report/field-limits.js';
import type { ReportSender } from '../report/from-record.js';
import type { Logger, Matcher, MatchResult, Policy, ReporterInfo } from '../types.js';
import { reportConnectionErrors } from './connection-errors.js';
import { type JobDeps, reportHoldExpired } from './job-results.js';
import { boundLoad, type LoadRef } from './load-ref.js';
import type { QueueOption } from './open-queue.js';
import { processJob } from './process-job.js';
import { type OpenedQueue, resolveQueue } from './resolve-queue.js';
import type { Consumer, QueueEngine } from './types.js';

export interface ScanWorkerOptions {
  /** An opened queue, or where to open one (`{ dir }` embedded, `{ redis }` BullMQ). Required. */
  queue: QueueEngine | QueueOption;
  /** Defaults to env `PHOTODNA_API_KEY`; required unless `matcher` is given. */
  apiKey?: string;
  /** Defaults to env `PHOTODNA_BASE_URL`, else the real service. */
  baseUrl?: string;
  /** Defaults to `'v2'`. */
  apiVersion?: 'v1' | 'v2';
  /**
   * The rate budget. With a BullMQ queue, `redis` defaults to the queue's Redis, so every worker
   * and every guard with the same key and Redis share one budget. Defaults to `{ perSecond: 5 }`
   * (v2).
   */
  rateLimit?: { perSecond?: number; redis?: string | RedisClientLike };
  /** Tuning of the PhotoDNA client the worker creates (timeouts, retry). Defaults to the client's. */
  client?: Omit<
    PhotoDnaClientOptions,
    'apiKey' | 'baseUrl' | 'apiVersion' | 'rateLimit' | 'logger'
  >;
  /** A custom matcher instead of PhotoDNA. Defaults to the PhotoDNA client. */
  matcher?: Matcher;
  /** Where matches are stored: `{ dir, preserveDays? }` or a store object. Defaults to none. */
  quarantine?: { dir: string; preserveDays?: number } | QuarantineStore;
  /**
   * Policy for jobs that name none. A deferred upload already passed, so `'block'` acts as
   * `'quarantine'`. Defaults to `'quarantine'` when a store is given, else `'flag'`.
   */
  policy?: Policy;
  /**
   * Resolves a job's `ref` source to the bytes (the host's own storage), or to `null` when the ref
   * no longer exists: the job then ends, never retried, with a `reject` event `SCAN_UNAVAILABLE`
   * (done as `unchecked`); a rejection is retried later. Its `signal` is aborted when the worker
   * closes or after `download.timeoutMs`; either way the job's run ends then even if `load`
   * ignores the signal (its answer is no longer awaited): a timeout is retried later with an
   * `error` event (reason `timeout`), a close leaves the job for the next run. Defaults to none.
   */
  load?: LoadRef;
  /**
   * Matches a `url` job by its URL, the service fetching the image (no bytes pass through the
   * worker). Defaults to PhotoDNA's Match-by-URL form when the worker makes its own client (no
   * `matcher` given), else none: the worker downloads the image and asks `matcher`.
   */
  matchUrl?: (url: string, options: { signal: AbortSignal }) => Promise<MatchResult>;
  /**
   * Bounds of the worker's own downloads (a `url` job's image, the evidence of its match), besides
   * `limits.maxFileSize` bytes: `timeoutMs` for the whole download (and for one `load(ref)` call),
   * `maxRedirects` followed (each to http or https only). Defaults to
   * `{ timeoutMs: 30000, maxRedirects: 3 }`.
   */
  download?: { timeoutMs?: number; maxRedirects?: number };
  /**
   * Attempts of a `url` job whose URL cannot be fetched (no answer, an HTTP error, PhotoDNA's
   * 3002) before it is done as `invalid`, and of a matched one whose evidence cannot be
   * downloaded before the match is emitted without it. Counted over the job's attempts (backoff
   * 1 s, 2 s, 4 s, ...). Defaults to `10` (about 8.5 minutes).
   */
  urlAttempts?: number;
  /** Jobs scanned at once. Defaults to `5`. */
  concurrency?: number;
  /** Validation limits, as the guard's `limits`. Defaults to the guard's defaults. */
  limits?: Partial<Limits>;
  /**
   * Budget of one job's PhotoDNA call (rate-limit wait and retries included), or `matcher` /
   * `matchUrl` call: its `signal` is aborted then (and when the worker closes), and the job's run
   * ends even if the call ignores it, retried later. Defaults to `60000` ms.
   */
  scanTimeoutMs?: number;
  /** Budget of `match` listeners and `onMatch`. Defaults to `10000` ms. */
  hookTimeoutMs?: number;
  /** Awaited for each match, like the guard's `onMatch`. Defaults to none. */
  onMatch?: (event: MatchEvent) => void | Promise<void>;
  /** Defaults for `event.report()`. Defaults to none. */
  reporter?: Partial<ReporterInfo>;
  /** A pino-compatible logger. Defaults to silent. */
  logger?: Logger;
  /** Sends `event.report()`s. Defaults to the worker's PhotoDNA client (none with a custom `matcher`). */
  sender?: () => ReportSender;
  /** Emit on this emitter (e.g. a guard's, to share listeners and metrics). Defaults to a new one. */
  events?: GuardEvents;
  /** Start consuming at once. Defaults to `true`. */
  autoStart?: boolean;
}

export interface ScanWorker {
  readonly events: GuardEvents;
  readonly queue: QueueEngine;
  readonly store: QuarantineStore | undefined;
  on<E extends GuardEventName>(name: E, listener: Listener<E>): ScanWorker;
  off<E extends GuardEventName>(name: E, listener: Listener<E>): ScanWorker;
  /** Starts consuming (when `autoStart: false`). Idempotent. */
  start(): void;
  /**
   * Stops claiming jobs, lets running ones settle (an in-flight call, download or `load(ref)` is
   * aborted and the job retried later), closes what it opened.
   */
  close(): Promise<void>;
}

export async function createScanWorker(options: ScanWorkerOptions): Promise<ScanWorker> {
  // Checked before anything is opened.
  assertReporterDefaultsFit('createScanWorker', options.reporter);
  const urlBounds: Pick<JobDeps, 'download' | 'urlAttempts'> = {
    download: {
      timeoutMs: positive(options.download?.timeoutMs, 30_000, 'download.timeoutMs'),
      maxRedirects: count(options.download?.maxRedirects, 3, 'download.maxRedirects'),
    },
    urlAttempts: positive(options.urlAttempts, 10, 'urlAttempts'),
  };
  const opened: OpenedQueue = await resolveQueue(options.queue);
  const events = options.events ?? new GuardEvents(options.logger);
  if (options.logger && !options.events) logEvents(events, options.logger);
  // Jobs cannot run while the queue's Redis is down: said, not silent.
  reportConnectionErrors(opened.queue, events);
  // Options refused here (a bad client option, a quarantine dir) must not leave the queue's
  // Redis connection open: a CLI would then hang, reconnecting, after printing the refusal.
  let client: PhotoDnaClient | undefined;
  let store: QuarantineStore | undefined;
  try {
    client = options.matcher ? undefined : createClient(options, opened);
    store = createStore(options.quarantine);
  } catch (error) {
    await client?.close();
    if (opened.owned) await opened.queue.close();
    throw error;
  }
  const matcher = options.matcher ?? (client as PhotoDnaClient).asMatcher();
  // The client it made is its own: its metrics count that client's attempts, no guard's do.
  if (client) scopeOf(events).claim(clientIdentity(client));
  const route: RouteConfig = {
    policy: options.policy ?? (store ? 'quarantine' : 'flag'),
    failMode: 'closed',
    scanTimeoutMs: options.scanTimeoutMs ?? 60_000,
    hookTimeoutMs: options.hookTimeoutMs ?? 10_000,
    onMatch: options.onMatch,
    rejectionBody: undefined,
    limits: limitsSchema.parse(options.limits ?? {}),
    defer: false,
    matchAnswer: 'disguised',
    openOnBusy: false,
    trailingData: 'strip',
    imageFields: 'scan',
    // A deferred job holds the bytes the request sanitized and checked: nothing more to do.
    sanitize: 'none',
  };
  const closing = new AbortController();
  const deps: JobDeps = {
    matcher,
    matchUrl:
      options.matchUrl ??
      (client ? (url, { signal }) => client.matchUrl(url, { signal }) : undefined),
    ...urlBounds,
    events,
    reporting: {
      events,
      store,
      sender: options.sender ?? (client ? () => client : undefined),
      reporter: options.reporter,
    },
    route,
    limits: route.limits,
    policy: route.policy as Policy,
    load:
      options.load &&
      boundLoad(options.load, {
        closing: closing.signal,
        timeoutMs: urlBounds.download.timeoutMs,
      }),
    closing: closing.signal,
  };
  let consumer: Consumer | undefined;
  let closed: Promise<void> | undefined;
  const worker: ScanWorker = {
    events,
    queue: opened.queue,
    store,
    on(name, listener) {
      events.on(name, listener);
      return worker;
    },
    off(name, listener) {
      events.off(name, listener);
      return worker;
    },
    start() {
      consumer ??= opened.queue.consume((job) => processJob(deps, job), {
        concurrency: options.concurrency ?? 5,
        onHoldExpired: (job) => reportHoldExpired(events, job),
      });
    },
    close() {
      closed ??= (async () => {
        closing.abort();
        await consumer?.close();
        // A given matcher belongs to the caller (e.g. the guard's, shared with its routes).
        if (!options.matcher) await matcher.close?.();
        if (opened.owned) await opened.queue.close();
      })();
      return closed;
    },
  };
  shareScope(worker, events);
  if (options.autoStart !== false) worker.start();
  return worker;
}

function createClient(options: ScanWorkerOptions, opened: OpenedQueue): PhotoDnaClient {
  const redis = options.rateLimit?.redis ?? opened.redis;
  return new PhotoDnaClient({
    ...options.client,
    ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
    ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl }),
    ...(options.apiVersion === undefined ? {} : { apiVersion: options.apiVersion }),
    rateLimit: {
      ...(options.rateLimit?.perSecond === undefined
        ? {}
        : { perSecond: options.rateLimit.perSecond }),
      ...(redis === undefined ? {} : { redis }),
      maxQueue: 100_000,
    },
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}

function createStore(option: ScanWorkerOptions['quarantine']): QuarantineStore | undefined {
  if (!option) return undefined;
  if ('put' in option) return option;
  return createFileQuarantineStore(option);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new TypeError(`createScanWorker: ${name} must be a positive integer`);
  return value;
}

function count(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`createScanWorker: ${name} must be a non-negative integer`);
  return value;
}
