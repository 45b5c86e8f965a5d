import { PhotoDnaClient } from '../client/index.js';
import type { GuardError } from '../errors.js';
import { type GuardEventName, GuardEvents, type Listener } from '../events.js';
import { buildMatcher } from '../matchers/build.js';
import {
  type GuardConfig,
  type GuardOptions,
  parseGuardOptions,
  type RouteConfig,
} from '../options.js';
import { createFileQuarantineStore } from '../quarantine/fs-store.js';
import type { QuarantineStore } from '../quarantine/types.js';
import { emitReject } from './emit-reject.js';
import { logEvents } from './log-events.js';
import type { RequestContext } from './request-context.js';
import { ResultCache } from './result-cache.js';
import { type ScanDeps, scanRequest } from './scan-request.js';
import type { UploadedFile } from './validate-file.js';
import type { Verdict } from './verdict.js';

/**
 * Everything one `photodnaGuard(options)` call owns, shared by all its routes: the parsed
 * config, the matcher (and so the rate limiter), the cache, the store and the events.
 */
export class GuardCore {
  readonly config: GuardConfig;
  readonly events: GuardEvents;
  readonly routeConfig: RouteConfig;
  readonly #deps: ScanDeps;
  readonly #client: PhotoDnaClient | undefined;
  #reportClient: PhotoDnaClient | undefined;

  constructor(options: GuardOptions | undefined) {
    const config = parseGuardOptions(options);
    this.config = config;
    this.events = new GuardEvents(config.logger);
    if (config.logger) logEvents(this.events, config.logger);
    for (const [name, listener] of Object.entries(config.on ?? {})) {
      if (listener) this.events.on(name as GuardEventName, listener as Listener<GuardEventName>);
    }
    const apiKey = config.apiKey ?? process.env.PHOTODNA_API_KEY;
    const { matcher, client } = buildMatcher(config, apiKey, () => this.#createClient());
    this.#client = client;
    const store = createStore(config.quarantine);
    this.routeConfig = {
      policy: config.policy,
      failMode: config.failMode,
      scanTimeoutMs: config.scanTimeoutMs,
      hookTimeoutMs: config.hookTimeoutMs,
      onMatch: config.onMatch,
      rejectionBody: config.rejectionBody,
      limits: config.limits,
    };
    this.#deps = {
      matcher,
      cache: config.cache === false ? undefined : new ResultCache(config.cache),
      events: this.events,
      store,
      reporter: config.reporter,
      sender: apiKey ? () => this.#client ?? this.#lazyReportClient() : undefined,
    };
  }

  get store(): QuarantineStore | undefined {
    return this.#deps.store;
  }

  scan(ctx: RequestContext, uploads: UploadedFile[], route: RouteConfig): Promise<Verdict> {
    return scanRequest(this.#deps, ctx, uploads, route);
  }

  /** Records a rejection that happened before the core saw any file (multipart errors). */
  rejected(ctx: RequestContext, error: GuardError): Verdict {
    emitReject(this.events, ctx, error);
    return { kind: 'reject', error };
  }

  async close(): Promise<void> {
    await Promise.all([this.#deps.matcher.close?.(), this.#reportClient?.close()]);
  }

  #createClient(): PhotoDnaClient {
    const { config } = this;
    return new PhotoDnaClient({
      ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
      ...(config.baseUrl === undefined ? {} : { baseUrl: config.baseUrl }),
      apiVersion: config.apiVersion,
      enhance: config.enhance,
      ...(config.evaluation === undefined ? {} : { evaluation: config.evaluation }),
      rateLimit: config.rateLimit,
      ...config.client,
      ...(config.logger === undefined ? {} : { logger: config.logger }),
    });
  }

  #lazyReportClient(): PhotoDnaClient {
    this.#reportClient ??= this.#createClient();
    return this.#reportClient;
  }
}

function createStore(option: GuardConfig['quarantine']): QuarantineStore | undefined {
  if (!option) return undefined;
  if ('dir' in option && typeof option.dir === 'string' && !('put' in option)) {
    return createFileQuarantineStore({
      dir: option.dir,
      preserveDays: option.preserveDays,
    });
  }
  return option as QuarantineStore;
}
