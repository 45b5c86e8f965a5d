import type { Pool } from 'undici';
import { isHttpUrl } from '../download.js';
import type { PhotoDnaServiceError } from '../errors.js';
import { ncmecSecrets, urlSecrets } from '../redact.js';
import type {
  ImageMimeType,
  Logger,
  Matcher,
  NcmecCredentials,
  ReportBody,
  ReportResult,
} from '../types.js';
import { clientIdentity } from './diagnostics.js';
import { type ExecuteContext, execute, type Job } from './execute.js';
import { notSentTooLargeError } from './failures.js';
import { createPool, type HttpRequest, type HttpSettings } from './http.js';
import { LocalRateLimiter, type RateLimiter, SAFETY_MARGIN_MS } from './limiter.js';
import { toMatcher } from './matcher.js';
import {
  type PhotoDnaClientOptions,
  type ResolvedClientOptions,
  resolveClientOptions,
} from './options.js';
import { openRedis } from './redis-connection.js';
import {
  type MatchResponse,
  parseMatchAnswer,
  parseMatchHashResults,
  parseReportAnswer,
} from './responses.js';
import { RedisWindow } from './shared-window.js';

export type { PhotoDnaClientOptions } from './options.js';
export type { MatchResponse } from './responses.js';

/** Per-call options. */
export interface CallOptions {
  /**
   * Aborts the call: a queued call is dropped before it spends a request, an in-flight one is
   * cancelled. A `TimeoutError` reason (from `AbortSignal.timeout`) is thrown as a
   * `SCAN_UNAVAILABLE` timeout; any other reason is rethrown as is.
   */
  signal?: AbortSignal;
}

/** Hashes per MatchHash request (SPEC section 2). */
export const HASHES_PER_BATCH = 5;
/** Bytes above which no image can be accepted by the service (4 MiB): not worth a call. */
const NEVER_ACCEPTED_BYTES = 4 * 1024 * 1024;
const MIME_TYPES: ReadonlySet<string> = new Set([
  'image/gif',
  'image/jpeg',
  'image/png',
  'image/bmp',
  'image/tiff',
]);

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The only code that talks to the PhotoDNA Cloud Service: rate limited, bounded, retried and
 * cancellable. One instance per subscription key; share it between guards.
 */
export class PhotoDnaClient {
  readonly #config: ResolvedClientOptions;
  readonly #pool: Pool;
  readonly #limiter: RateLimiter;
  readonly #context: ExecuteContext;
  readonly #closing = new AbortController();
  readonly #inflight = new Set<Promise<unknown>>();
  #closed: Promise<void> | undefined;

  constructor(options: PhotoDnaClientOptions = {}) {
    const config = resolveClientOptions(options);
    this.#config = config;
    const logger = config.logger ?? silentLogger;
    const http: HttpSettings = {
      ...config.timeouts,
      connections: config.connections,
      maxResponseBytes: config.maxResponseBytes,
    };
    this.#pool = createPool(config.origin, http);
    const { perSecond, maxQueue, redis } = config.rateLimit;
    const windowMs = 1000 + SAFETY_MARGIN_MS;
    this.#limiter = new LocalRateLimiter({
      perSecond,
      maxQueue,
      maxConcurrent: config.connections,
      shared:
        redis === undefined
          ? undefined
          : new RedisWindow({
              redis: openRedis(redis, logger),
              apiKey: config.apiKey,
              apiVersion: config.apiVersion,
              limit: perSecond,
              windowMs,
              spacingMs: windowMs / perSecond,
              logger,
            }),
    });
    this.#context = {
      pool: this.#pool,
      limiter: this.#limiter,
      http,
      retry: config.retry,
      logger,
      closing: this.#closing.signal,
      identity: clientIdentity(this),
    };
  }

  /** Callers waiting for a rate-limiter slot (diagnostics, benchmarks). */
  get queued(): number {
    return this.#limiter.queued;
  }

  /** Matches image bytes, sent with `contentType` (the type sniffed from the bytes). */
  match(
    bytes: Uint8Array,
    contentType: ImageMimeType,
    options: CallOptions = {},
  ): Promise<MatchResponse> {
    if (!(bytes instanceof Uint8Array))
      return Promise.reject(new TypeError('bytes must be a Buffer or Uint8Array'));
    if (!MIME_TYPES.has(contentType)) {
      return Promise.reject(
        new TypeError(`contentType must be one of ${[...MIME_TYPES].join(', ')}`),
      );
    }
    if (bytes.byteLength > NEVER_ACCEPTED_BYTES) {
      return Promise.reject(notSentTooLargeError(bytes.byteLength));
    }
    return this.#run(
      {
        operation: 'match',
        request: this.#request(this.#matchPath(), contentType, bytes),
        idempotent: true,
        parse: (response) =>
          parseMatchAnswer(response, { secrets: this.#secrets(), bytes: bytes.byteLength }),
      },
      options.signal,
    );
  }

  /** Matches the image at a public URL (the service fetches it). */
  matchUrl(url: string, options: CallOptions = {}): Promise<MatchResponse> {
    if (!isHttpUrl(url))
      return Promise.reject(new TypeError('url must be an absolute http(s) URL'));
    const body = JSON.stringify({ DataRepresentation: 'URL', Value: url });
    // An answer quoting the URL must not carry its credentials, query (a presigned URL's token,
    // each value on its own, decoded too) or fragment.
    const secrets = [...this.#secrets(), ...(urlSecrets(url) ?? [url])];
    return this.#run(
      {
        operation: 'match-url',
        request: this.#request(this.#matchPath(), 'application/json', body),
        idempotent: true,
        parse: (response) => parseMatchAnswer(response, { secrets }),
      },
      options.signal,
    );
  }

  /**
   * Matches PhotoDNA hashes (base64), any number: sent in batches of at most five, one rate-limiter
   * slot per batch; results in input order. When one batch fails, the batches still queued are
   * dropped and the first failure is thrown.
   */
  async matchHashes(hashes: string[], options: CallOptions = {}): Promise<MatchResponse[]> {
    if (
      !Array.isArray(hashes) ||
      !hashes.every((hash) => typeof hash === 'string' && hash.length > 0)
    ) {
      throw new TypeError('hashes must be an array of non-empty base64 strings');
    }
    const batches: string[][] = [];
    for (let i = 0; i < hashes.length; i += HASHES_PER_BATCH)
      batches.push(hashes.slice(i, i + HASHES_PER_BATCH));
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    try {
      const results = await Promise.all(
        batches.map(async (batch) => {
          const outcomes = await this.matchHashBatch(() => batch, { signal });
          return outcomes.map((outcome) => {
            if (outcome instanceof Error) throw outcome;
            return outcome;
          });
        }),
      );
      return results.flat();
    } catch (error) {
      stop.abort(error);
      throw error;
    }
  }

  /**
   * Sends one MatchHash call of at most five hashes, taken by `take()` only once a rate-limiter
   * slot is granted (so a batch can keep gathering hashes while it waits; retries resend the same
   * hashes). Resolves to one outcome per hash taken, in order: its result, or its own error (a
   * per-hash `Status.Code` such as 3002); rejects when the whole call fails.
   */
  matchHashBatch(
    take: () => readonly string[],
    options: CallOptions = {},
  ): Promise<Array<MatchResponse | PhotoDnaServiceError>> {
    let batch: readonly string[] | undefined;
    const path = `${this.#config.pathPrefix}/photodna/v1.0/MatchHash`;
    return this.#run(
      {
        operation: 'match-hash',
        request: () => {
          batch ??= take();
          if (batch.length === 0 || batch.length > HASHES_PER_BATCH) {
            throw new RangeError(`a MatchHash batch holds 1 to ${HASHES_PER_BATCH} hashes`);
          }
          const body = JSON.stringify(
            batch.map((Value) => ({ DataRepresentation: 'Hash', Value })),
          );
          return this.#request(path, 'application/json', body);
        },
        idempotent: true,
        parse: (response) =>
          parseMatchHashResults(response, batch?.length ?? 0, { secrets: this.#secrets() }),
      },
      options.signal,
    );
  }

  /**
   * Files an NCMEC report. Never sent twice once the service may have received it: it is retried
   * only when the request provably never left (queue wait, connection refused, 429).
   */
  report(
    body: ReportBody,
    credentials: NcmecCredentials,
    options: CallOptions = {},
  ): Promise<ReportResult> {
    const { ncmecUser, ncmecPassword } = credentials ?? {};
    if (
      typeof ncmecUser !== 'string' ||
      !ncmecUser ||
      typeof ncmecPassword !== 'string' ||
      !ncmecPassword
    ) {
      return Promise.reject(new TypeError('credentials need ncmecUser and ncmecPassword'));
    }
    const request = this.#request(
      `${this.#config.pathPrefix}/photodna/v1.0/Report`,
      'application/json',
      JSON.stringify(body),
    );
    request.headers['x-usr'] = ncmecUser;
    request.headers['x-pwd'] = ncmecPassword;
    return this.#run(
      {
        operation: 'report',
        request,
        idempotent: false,
        parse: (response) =>
          parseReportAnswer(response, {
            secrets: [...this.#secrets(), ...ncmecSecrets(credentials)],
          }),
      },
      options.signal,
    );
  }

  /** This client as the guard's `Matcher` (its `close` closes the client). */
  asMatcher(): Matcher {
    return toMatcher(this);
  }

  /** Rejects queued calls, lets started calls finish, closes the connections. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      const stopping = this.#limiter.close();
      await Promise.allSettled([...this.#inflight]);
      await stopping;
      await this.#pool.close();
    })();
    return this.#closed;
  }

  #run<T>(job: Job<T>, signal: AbortSignal | undefined): Promise<T> {
    const call = execute(this.#context, job, signal);
    this.#inflight.add(call);
    const forget = () => this.#inflight.delete(call);
    call.then(forget, forget);
    return call;
  }

  #matchPath(): string {
    const { apiVersion, enhance, pathPrefix } = this.#config;
    const path = apiVersion === 'v1' ? '/photodna/v1.0/Match' : '/v2/PhotoDNA/Match';
    return `${pathPrefix}${path}?enhance=${enhance}`;
  }

  #request(path: string, contentType: string, body: string | Uint8Array): HttpRequest {
    const headers: Record<string, string> = {
      'ocp-apim-subscription-key': this.#config.apiKey,
      'content-type': contentType,
      accept: 'application/json',
    };
    if (this.#config.evaluation) headers['enable-evaluation'] = this.#config.evaluation;
    return { path, headers, body };
  }

  #secrets(): string[] {
    return [this.#config.apiKey];
  }
}
