import type { GuardError } from '../errors.js';
import { type GuardEventName, GuardEvents, type Listener } from '../events.js';
import type { GuardMetrics } from '../metrics/guard-metrics.js';
import type { UploadAborted } from '../multipart/parser.js';
import type { GuardConfig, RouteConfig } from '../options.js';
import type { QuarantineStore } from '../quarantine/types.js';
import type { ScanQueue } from '../queue/types.js';
import type { ReportSender } from '../report/from-record.js';
import type { Matcher } from '../types.js';
import { CachedMatcher } from './cached-matcher.js';
import { decide, refuseUnread } from './decide.js';
import { type DiagnosticsScope, scopeOf } from './diagnostics-scope.js';
import type { Entry } from './entry.js';
import { FairShare } from './fair-share.js';
import { logEvents } from './log-events.js';
import type { Outcome } from './outcome.js';
import type { RequestView } from './request-view.js';
import { ResultCache } from './result-cache.js';
import type { ScanDeps } from './scan-request.js';

/** What the wiring (src/wiring.ts) hands the core: back ends built, nothing read from the environment. */
export interface CoreParts {
  config: GuardConfig;
  matcher: Matcher;
  /** `matcher` is the PhotoDNA client the wiring built: its answers are already validated. */
  trustedMatcher?: boolean;
  store: QuarantineStore | undefined;
  /** Sends NCMEC reports; absent when no API key is configured. */
  sender: (() => ReportSender) | undefined;
  /** The durable queue of deferred scans (`queue` option). */
  queue?: ScanQueue | undefined;
  /** What holds the synchronous rate-limiter queue (the PhotoDNA client), for metrics. */
  limiter?: { readonly queued: number } | undefined;
  /** Releases what the wiring built besides the matcher (a lazily made report client). */
  close?: () => Promise<void>;
}

/**
 * The runtime of one `photodnaGuard(options)` call, shared by all its routes: the parsed config,
 * the matcher (and so the rate limiter), the cache, the store and the events. `decide` is the one
 * entry point every adapter calls.
 */
export class GuardCore {
  readonly config: GuardConfig;
  readonly events: GuardEvents;
  /** Which diagnostics-channel messages are this guard's (its metrics count only those). */
  readonly scope: DiagnosticsScope;
  readonly routeConfig: RouteConfig;
  readonly hasStore: boolean;
  /** The quarantine store and the report sender, for tools that share them (the console). */
  readonly store: QuarantineStore | undefined;
  readonly sender: (() => ReportSender) | undefined;
  readonly hasQueue: boolean;
  readonly queue: ScanQueue | undefined;
  readonly #limiter: { readonly queued: number } | undefined;
  #metrics: Promise<GuardMetrics> | undefined;
  readonly #deps: ScanDeps;
  readonly #close: (() => Promise<void>) | undefined;
  readonly #closers: Array<() => Promise<void>> = [];

  constructor(parts: CoreParts) {
    const { config } = parts;
    this.config = config;
    this.events = new GuardEvents(config.logger);
    this.scope = scopeOf(this.events);
    if (config.logger) logEvents(this.events, config.logger);
    for (const [name, listener] of Object.entries(config.on ?? {})) {
      if (listener) this.events.on(name as GuardEventName, listener as Listener<GuardEventName>);
    }
    this.routeConfig = {
      policy: config.policy,
      failMode: config.failMode,
      scanTimeoutMs: config.scanTimeoutMs,
      hookTimeoutMs: config.hookTimeoutMs,
      onMatch: config.onMatch,
      rejectionBody: config.rejectionBody,
      matchAnswer: config.matchAnswer,
      openOnBusy: config.openOnBusy,
      trailingData: config.trailingData,
      imageFields: config.imageFields,
      sanitize: config.sanitize,
      limits: config.limits,
      defer: config.defer,
    };
    this.hasStore = parts.store !== undefined;
    this.store = parts.store;
    this.sender = parts.sender;
    this.hasQueue = parts.queue !== undefined;
    this.queue = parts.queue;
    this.#limiter = parts.limiter;
    this.#metrics = undefined;
    this.#close = parts.close;
    this.#deps = {
      matcher: parts.matcher,
      trustedMatcher: parts.trustedMatcher === true,
      cache: config.cache === false ? undefined : new ResultCache(config.cache),
      cacheScope: config.cache === false ? 'global' : config.cache.scope,
      fairShare:
        config.fairShare === false
          ? undefined
          : new FairShare(config.fairShare.maxPerClient, config.clientKey),
      clientKey: config.clientKey,
      events: this.events,
      store: parts.store,
      reporter: config.reporter,
      sender: parts.sender,
      queue: parts.queue,
      logger: config.logger,
    };
  }

  /** Decides one request seen through `view` at `entry`; never answers it itself. */
  decide(entry: Entry, view: RequestView): Promise<Outcome> {
    return decide(this.#deps, entry, view);
  }

  /**
   * Refuses a request whose body the host's parser could not read, as `decide` refuses one; gives
   * up on it (no answer) when that was because the uploader left (`UploadAborted`).
   */
  refuseUnread(
    entry: Entry,
    view: RequestView,
    error: GuardError | UploadAborted,
  ): Promise<Outcome> {
    return refuseUnread(this.#deps, entry, view, error);
  }

  /** Runs `closer` when the guard closes (tools mounted on the guard, such as its console). */
  onClose(closer: () => Promise<void>): void {
    this.#closers.push(closer);
  }

  /** Forgets the cached results: the matcher's answers may have changed (a PDQ list reloaded). */
  forgetResults(): void {
    this.#deps.cache?.clear();
  }

  /**
   * The matcher for this guard's deferred-scan worker: the guard's own (same rate limiter)
   * through the guard's dedup cache, so a re-uploaded image queued twice costs one call (and its
   * `scan` event says `cached`: the worker asks a `CachedMatcher` whether the cache answered).
   */
  deferredMatcher(): Matcher {
    const { cache, matcher } = this.#deps;
    return cache ? new CachedMatcher(matcher, cache) : matcher;
  }

  /** The Prometheus text exposition of this guard's metrics (collected from the first call on). */
  async metrics(): Promise<string> {
    this.#metrics ??= import('../metrics/guard-metrics.js').then(({ createGuardMetrics }) =>
      createGuardMetrics(this.events, {
        ...(this.queue ? { queue: this.queue } : {}),
        ...(this.#limiter ? { limiter: this.#limiter } : {}),
      }),
    );
    return (await this.#metrics).metrics();
  }

  async close(): Promise<void> {
    (await this.#metrics?.catch(() => undefined))?.close();
    // The wiring's part first: a deferred-scan worker stops before the matcher it uses closes.
    await Promise.all([this.#close?.(), ...this.#closers.map((closer) => closer())]);
    await this.#deps.matcher.close?.();
  }
}
