import { type GuardEventName, GuardEvents, type Listener } from '../events.js';
import type { GuardConfig, RouteConfig } from '../options.js';
import type { QuarantineStore } from '../quarantine/types.js';
import type { ReportSender } from '../report/from-record.js';
import type { Matcher } from '../types.js';
import { decide } from './decide.js';
import type { Entry } from './entry.js';
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
  readonly routeConfig: RouteConfig;
  readonly hasStore: boolean;
  readonly #deps: ScanDeps;
  readonly #close: (() => Promise<void>) | undefined;

  constructor(parts: CoreParts) {
    const { config } = parts;
    this.config = config;
    this.events = new GuardEvents(config.logger);
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
      limits: config.limits,
    };
    this.hasStore = parts.store !== undefined;
    this.#close = parts.close;
    this.#deps = {
      matcher: parts.matcher,
      trustedMatcher: parts.trustedMatcher === true,
      cache: config.cache === false ? undefined : new ResultCache(config.cache),
      events: this.events,
      store: parts.store,
      reporter: config.reporter,
      sender: parts.sender,
    };
  }

  /** Decides one request seen through `view` at `entry`; never answers it itself. */
  decide(entry: Entry, view: RequestView): Promise<Outcome> {
    return decide(this.#deps, entry, view);
  }

  async close(): Promise<void> {
    await Promise.all([this.#deps.matcher.close?.(), this.#close?.()]);
  }
}
