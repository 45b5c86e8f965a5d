/**
 * `createGuardMetrics(events, options)`: the guard's (or a scan worker's) metrics in Prometheus
 * text format, from its events, the client's `photodna-guard:attempt` and the core's
 * `photodna-guard:upload-ended` diagnostics channels (process-wide both: only the messages of
 * this guard or worker are counted, see `diagnostics-scope.ts`), and scrape-time reads of the
 * queues. Without `registry` a built-in exposition is used (no dependency, `metrics()`
 * returns the text); with a prom-client 15 `registry` the metrics are registered there
 * (prom-client is an optional peer, imported only then).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ATTEMPT_CHANNEL, type AttemptMessage } from '../client/diagnostics.js';
import { findScope } from '../core/diagnostics-scope.js';
import { UPLOAD_ENDED_CHANNEL, type UploadEndedMessage } from '../core/upload-ended.js';
import type { GuardEventName, Listener } from '../events.js';
import type { ScanQueue } from '../queue/types.js';
import { createPromSink, type PromClientLike, type RegistryLike } from './prom-sink.js';
import type { Sink } from './sink.js';
import { createTextSink } from './text-sink.js';

/** Anything with typed `on`/`off`: a guard, a scan worker, or their `events`. */
export interface EventSource {
  on<E extends GuardEventName>(name: E, listener: Listener<E>): unknown;
  off<E extends GuardEventName>(name: E, listener: Listener<E>): unknown;
}

export interface GuardMetricsOptions {
  /** A prom-client `Registry` to register in. Defaults to none (the built-in exposition). */
  registry?: RegistryLike;
  /** The deferred scan queue, for its depth and age. Defaults to none. */
  queue?: Pick<ScanQueue, 'depth'>;
  /** What holds the synchronous rate-limiter queue (`PhotoDnaClient`). Defaults to none. */
  limiter?: { readonly queued: number };
  /** Metric name prefix. Defaults to `'photodna_guard_'`. */
  prefix?: string;
  /**
   * The `route` label of a request, from its path and the pattern of the route the framework
   * matched (unset when it did not know it). Defaults to the pattern (`'/users/:id'`), else
   * `'unmatched'`: never the path, which the uploader chooses (each distinct one would be a
   * series kept for the life of the process). What this returns is used as is: keep it bounded.
   */
  routeLabel?: (route: string, routePattern: string | undefined) => string;
}

export interface GuardMetrics {
  /** The Prometheus text exposition. */
  metrics(): Promise<string>;
  /** The `Content-Type` to answer a scrape with. */
  readonly contentType: string;
  /** Stops listening. */
  close(): void;
}

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export async function createGuardMetrics(
  source: EventSource,
  options: GuardMetricsOptions = {},
): Promise<GuardMetrics> {
  const sink = options.registry
    ? createPromSink(await loadPromClient(), options.registry)
    : createTextSink();
  const p = options.prefix ?? 'photodna_guard_';
  const m = defineMetrics(sink, p);
  const cache = { hits: 0, lookups: 0 };
  const label = options.routeLabel ?? patternLabel;
  const routeLabel = (e: { route: string; routePattern?: string }) =>
    label(e.route, e.routePattern);

  const listeners: { [E in GuardEventName]?: Listener<E> } = {
    scan: (e) => {
      const deferred = e.deferred ? 'true' : 'false';
      m.scans.inc({ outcome: e.outcome, route: routeLabel(e), deferred });
      if (!e.cached) m.scanSeconds.observe({ outcome: e.outcome, deferred }, e.durationMs / 1000);
      if (e.outcome !== 'unchecked') {
        cache.lookups++;
        if (e.cached) cache.hits++;
      }
    },
    match: (e) =>
      m.matches.inc({
        route: routeLabel(e),
        policy: e.policy,
        deferred: e.deferred ? 'true' : 'false',
      }),
    quarantine: () => m.quarantined.inc({}),
    report: (e) => m.reports.inc({ result: e.ok ? 'ok' : 'failed' }),
    reject: (e) => m.rejections.inc({ code: e.code, route: routeLabel(e) }),
    error: (e) => m.errors.inc({ stage: e.stage, reason: e.reason ?? '' }),
  };
  for (const [name, listener] of Object.entries(listeners)) {
    source.on(name as GuardEventName, listener as Listener<GuardEventName>);
  }
  // A guard's or a worker's own messages; every one for another emitter of events (as before).
  const scope = findScope(source);
  const onAttempt = (message: unknown) => {
    const a = message as AttemptMessage;
    if (scope && !scope.counts(a.client)) return;
    const status = a.httpStatus === undefined ? 'none' : String(a.httpStatus);
    m.calls.inc({ operation: a.operation, status });
    m.callSeconds.observe({ operation: a.operation }, a.durationMs / 1000);
    if (a.httpStatus === 429) m.throttled.inc({ operation: a.operation });
    if (a.attempt > 1) m.retries.inc({ operation: a.operation });
  };
  subscribe(ATTEMPT_CHANNEL, onAttempt);
  const onUploadEnded = (message: unknown) => {
    const e = message as UploadEndedMessage;
    if (scope && e.guard !== scope.identity) return;
    m.uploadsEnded.inc({ reason: e.reason, route: label(e.route, e.routePattern) });
  };
  subscribe(UPLOAD_ENDED_CHANNEL, onUploadEnded);

  sink.gauge(`${p}cache_hit_ratio`, 'Share of checked files answered from the dedup cache.', () => [
    [{}, cache.lookups === 0 ? 0 : cache.hits / cache.lookups],
  ]);
  if (options.limiter) {
    const limiter = options.limiter;
    sink.gauge(`${p}limiter_queued`, 'Synchronous scans waiting for a rate-limiter slot.', () => [
      [{}, limiter.queued],
    ]);
  }
  if (options.queue) {
    const queue = options.queue;
    let depth: Promise<Awaited<ReturnType<ScanQueue['depth']>>> | undefined;
    // One depth read per scrape, shared by the three gauges.
    const read = () => {
      depth ??= queue.depth().finally(() => {
        setImmediate(() => {
          depth = undefined;
        });
      });
      return depth;
    };
    sink.gauge(
      `${p}deferred_waiting`,
      'Deferred scan jobs waiting (retries included).',
      async () => [[{}, (await read()).waiting]],
    );
    sink.gauge(`${p}deferred_active`, 'Deferred scan jobs being scanned.', async () => [
      [{}, (await read()).active],
    ]);
    sink.gauge(
      `${p}deferred_oldest_age_seconds`,
      'Age of the oldest unfinished deferred scan job.',
      async () => [[{}, (await read()).oldestAgeMs / 1000]],
    );
  }

  return {
    metrics: () => sink.text(),
    get contentType() {
      return sink.contentType;
    },
    close() {
      unsubscribe(ATTEMPT_CHANNEL, onAttempt);
      unsubscribe(UPLOAD_ENDED_CHANNEL, onUploadEnded);
      for (const [name, listener] of Object.entries(listeners)) {
        source.off(name as GuardEventName, listener as Listener<GuardEventName>);
      }
    },
  };
}

/**
 * The route's pattern, written in the app and so a bounded set, else one fixed label. Never the
 * path: the uploader chooses it (`/a1`, `/a2`, ... up to Node's 16 KiB of headers), and each
 * distinct one would be kept and printed in every scrape; a parametrised route would count each
 * id apart; and the first paths seen would crowd out the app's real routes.
 */
function patternLabel(_route: string, routePattern: string | undefined): string {
  return routePattern ?? 'unmatched';
}

function defineMetrics(sink: Sink, p: string) {
  return {
    scans: sink.counter(`${p}scans_total`, 'Files checked, by outcome and route.', [
      'outcome',
      'route',
      'deferred',
    ]),
    scanSeconds: sink.histogram(
      `${p}scan_duration_seconds`,
      'Time to decide one file (queue wait and retries included; cache hits excluded).',
      ['outcome', 'deferred'],
      LATENCY_BUCKETS,
    ),
    matches: sink.counter(`${p}matches_total`, 'Files that matched a hash list.', [
      'route',
      'policy',
      'deferred',
    ]),
    quarantined: sink.counter(
      `${p}quarantined_total`,
      'Matched files durably stored in the quarantine store.',
      [],
    ),
    reports: sink.counter(`${p}reports_total`, 'NCMEC reports filed through event.report().', [
      'result',
    ]),
    rejections: sink.counter(`${p}rejections_total`, 'Validation rejections, by code.', [
      'code',
      'route',
    ]),
    uploadsEnded: sink.counter(
      `${p}uploads_ended_total`,
      'Uploads given up on with no answer: the uploader left (aborted), or its body sent nothing for limits.bodyIdleMs (stalled).',
      ['reason', 'route'],
    ),
    errors: sink.counter(`${p}errors_total`, 'Service, configuration, store and hook failures.', [
      'stage',
      'reason',
    ]),
    calls: sink.counter(
      `${p}calls_total`,
      'PhotoDNA attempts (every retry counts), by HTTP status.',
      ['operation', 'status'],
    ),
    callSeconds: sink.histogram(
      `${p}call_duration_seconds`,
      'One PhotoDNA attempt, request to answer.',
      ['operation'],
      LATENCY_BUCKETS,
    ),
    throttled: sink.counter(`${p}throttled_total`, 'PhotoDNA answers 429 (rate limit exceeded).', [
      'operation',
    ]),
    retries: sink.counter(`${p}retries_total`, 'PhotoDNA attempts after the first.', ['operation']),
  };
}

async function loadPromClient(): Promise<PromClientLike> {
  try {
    const module = (await import('prom-client')) as unknown as PromClientLike & {
      default?: PromClientLike;
    };
    return module.Counter ? module : (module.default as PromClientLike);
  } catch (error) {
    throw new Error(
      "metrics: a registry was given but the optional dependency 'prom-client' (15.x) could not be loaded: npm install prom-client",
      { cause: error },
    );
  }
}
