import type { ClientNetwork } from './core/client-address.js';
import type { ErrorCode, UnavailableReason } from './errors.js';
import { toError } from './errors.js';
import type { QuarantineRecord } from './quarantine/types.js';
import { loggableError } from './redact.js';
import type {
  FileFacts,
  Logger,
  MatchFlag,
  Policy,
  ReporterInfo,
  ReportResult,
  ScanOutcome,
} from './types.js';
import { SetupWarnings } from './warnings.js';

/** `scan`: every file checked (or that could not be checked). */
export interface ScanEvent {
  file: FileFacts;
  outcome: ScanOutcome;
  durationMs: number;
  cached: boolean;
  trackingId?: string;
  /** The request path the router routes on, as sent (the uploader's to choose). */
  route: string;
  /**
   * The pattern of the route the framework matched (`'/users/:id'`), when it knew it as the guard
   * ran: unset behind a global `app.use(guard)` in Express and Koa, and on a path no route
   * matches. Metrics label by it, never by `route`.
   */
  routePattern?: string;
  /** Set on scans done later from the durable queue (deferred, re-scans of unchecked files). */
  deferred?: true;
  /** The queue job's id (deferred scans only): the host stored it next to its object. */
  scanId?: string;
  /** The host's metadata given when the job was enqueued (deferred scans only). */
  metadata?: Record<string, unknown>;
  /**
   * The image URL of a `url` job, as enqueued (it may hold a token: log it redacted; not
   * enumerable, so logging the event whole leaves it out). When the
   * PhotoDNA service fetched the image itself, the worker never saw the bytes: `file` then holds
   * only `field` and `originalname`, with `mimetype` and `sha256` empty and the sizes 0.
   */
  url?: string;
}

/** `match`: a file matched a hash list. Carries the bytes for reporting: never log them. */
export interface MatchEvent {
  id: string;
  receivedAt: Date;
  /** The request path the router routes on, as sent (the uploader's to choose). */
  route: string;
  /**
   * The pattern of the route the framework matched (`'/users/:id'`), when it knew it as the guard
   * ran: unset behind a global `app.use(guard)` in Express and Koa, and on a path no route
   * matches. Metrics label by it, never by `route`.
   */
  routePattern?: string;
  method: string;
  /** The derived address (host trust settings) when it is an IP address, else the socket peer's. */
  ip: string;
  /** Peer address, forwarding headers as received, derived address: evidence of origin. */
  network: ClientNetwork;
  userAgent?: string;
  file: FileFacts;
  trackingId: string;
  matchFlags: MatchFlag[];
  policy: Policy;
  quarantineId?: string;
  /** Set when the match was found by a deferred scan from the durable queue. */
  deferred?: true;
  /** The queue job's id (deferred matches only). */
  scanId?: string;
  /** The host's metadata given when the job was enqueued (deferred matches only). */
  metadata?: Record<string, unknown>;
  /**
   * The image URL of a `url` job, as enqueued (it may hold a token: log it redacted; not
   * enumerable, so logging the event whole leaves it out). When its
   * evidence could not be downloaded after the worker's `urlAttempts`, the match is emitted
   * anyway: `buffer` is then empty, `file` holds only `field` and `originalname` (see
   * `ScanEvent.url`), `policy` is `'flag'` and an `error` event says the evidence is missing.
   */
  url?: string;
  /**
   * The image bytes, for reporting; never log them. Not enumerable, so that logging the event
   * whole (`logger.info(event)`, `JSON.stringify`, `console.log`) leaves them out; an object
   * spread (`{ ...event }`) leaves them out too.
   */
  buffer: Buffer;
  /**
   * Files an NCMEC report through PhotoDNA's Report endpoint; `info` is merged over
   * `options.reporter`. A second call returns the first result unless `{ force: true }`.
   */
  report(info?: Partial<ReporterInfo>, options?: { force?: boolean }): Promise<ReportResult>;
}

/** `quarantine`: a matched file was durably stored. */
export interface QuarantineEvent {
  record: QuarantineRecord;
}

/** `report`: an NCMEC report was filed through `event.report()` (or the attempt failed). */
export interface ReportEvent {
  /** The incident (`MatchEvent.id`). */
  incident: string;
  route: string;
  ok: boolean;
  /** The service's status code (3000 = OK), when it answered. */
  statusCode?: number;
  /**
   * Set on a failure after which NCMEC may have the report all the same (a timeout once it was
   * sent, a 5xx, an unreadable answer), and on a call refused for an earlier such attempt: a
   * report sent again may file the incident twice.
   */
  outcomeUnknown?: true;
}

/** `reject`: a request was rejected because of a file or the multipart body. */
export interface RejectEvent {
  code: ErrorCode;
  status: number;
  /** Why, for logs (never shown to the uploader). */
  detail?: string;
  /** The request path the router routes on, as sent (the uploader's to choose). */
  route: string;
  /**
   * The pattern of the route the framework matched (`'/users/:id'`), when it knew it as the guard
   * ran: unset behind a global `app.use(guard)` in Express and Koa, and on a path no route
   * matches. Metrics label by it, never by `route`.
   */
  routePattern?: string;
  method: string;
  ip: string;
  /** Present when a specific file caused it (validation rejections). */
  file?: Partial<FileFacts> & { field: string; originalname: string };
  /**
   * Set when a deferred scan from the durable queue refused the file (the job is done as
   * invalid; no answer goes with it: the upload already passed).
   */
  deferred?: true;
  /** The queue job's id (deferred rejections only). */
  scanId?: string;
  /** The host's metadata given when the job was enqueued (deferred rejections only). */
  metadata?: Record<string, unknown>;
  /**
   * The image URL of a `url` job, as enqueued (it may hold a token: log it redacted; not
   * enumerable, so logging the event whole leaves it out).
   */
  url?: string;
}

/** `error`: service, configuration, store, hook and listener failures. */
export interface ErrorEvent {
  error: Error;
  /**
   * `queue`: a scan worker's queue connection failed (its Redis), at most once per 30 s; or a
   * held job was refused because its hold expired without a verdict (reason `hold-expired`).
   */
  stage: 'scan' | 'quarantine' | 'hook' | 'report' | 'listener' | 'cleanup' | 'queue';
  reason?: UnavailableReason;
  route?: string;
  file?: FileFacts;
  /** The queue job's id (`hold-expired` only: the upload it may have accepted unchecked). */
  scanId?: string;
  /** The host's metadata given when that job was enqueued (`hold-expired` only). */
  metadata?: Record<string, unknown>;
}

export interface GuardEventMap {
  scan: ScanEvent;
  match: MatchEvent;
  quarantine: QuarantineEvent;
  report: ReportEvent;
  reject: RejectEvent;
  error: ErrorEvent;
}

export type GuardEventName = keyof GuardEventMap;
export type Listener<E extends GuardEventName> = (event: GuardEventMap[E]) => unknown;

/** The JSON body of every rejection. */
export interface RejectionBody {
  error: { code: ErrorCode; message: string };
}

/**
 * A small typed emitter. Unlike Node's EventEmitter, an `error` event with no listener does not
 * throw (it prints one warning, once: see `SetupWarnings`), and a listener that throws (or
 * rejects) is reported to the logger and as an `error` event instead of breaking the request.
 */
export class GuardEvents {
  /** Setup faults, each warned about once (`logger: false` silences them). */
  readonly warnings: SetupWarnings;
  readonly #listeners = new Map<GuardEventName, Set<Listener<GuardEventName>>>();
  readonly #logger: Logger | undefined;
  /** `once` wrappers and the listener each wraps, so `off(original)` finds them. */
  readonly #onceOf = new WeakMap<Listener<GuardEventName>, Listener<GuardEventName>>();

  constructor(logger?: Logger) {
    this.#logger = logger;
    this.warnings = new SetupWarnings(logger);
  }

  on<E extends GuardEventName>(name: E, listener: Listener<E>): this {
    this.#set(name).add(listener as Listener<GuardEventName>);
    return this;
  }

  /** Removes a listener, also one added with `once` that has not fired yet. */
  off<E extends GuardEventName>(name: E, listener: Listener<E>): this {
    const set = this.#listeners.get(name);
    if (!set) return this;
    for (const registered of set) {
      if (registered === listener || this.#onceOf.get(registered) === listener)
        set.delete(registered);
    }
    return this;
  }

  once<E extends GuardEventName>(name: E, listener: Listener<E>): this {
    const wrapper: Listener<E> = (event) => {
      this.off(name, wrapper);
      return listener(event);
    };
    this.#onceOf.set(wrapper as Listener<GuardEventName>, listener as Listener<GuardEventName>);
    return this.on(name, wrapper);
  }

  /** Whether anyone (a listener or the logger) receives `name`: build the event only then. */
  wants(name: GuardEventName): boolean {
    const set = this.#listeners.get(name);
    return set !== undefined && set.size > 0;
  }

  listenerCount(name: GuardEventName): number {
    return this.#listeners.get(name)?.size ?? 0;
  }

  /** Calls every listener; async listeners run on without being awaited. */
  emit<E extends GuardEventName>(name: E, event: GuardEventMap[E]): void {
    const listeners = this.#listeners.get(name);
    if (name === 'error') this.warnings.onError(event as ErrorEvent, (listeners?.size ?? 0) > 0);
    if (!listeners || listeners.size === 0) return;
    hideUrl(event);
    for (const listener of [...listeners]) {
      try {
        const result = listener(event);
        if (result instanceof Promise)
          result.catch((error: unknown) => this.#listenerFailed(name, error));
      } catch (error) {
        this.#listenerFailed(name, error);
      }
    }
  }

  /** Calls every listener and waits for all of them to settle. Never rejects. */
  async emitAndWait<E extends GuardEventName>(name: E, event: GuardEventMap[E]): Promise<void> {
    const listeners = [...(this.#listeners.get(name) ?? [])];
    hideUrl(event);
    await Promise.all(
      listeners.map(async (listener) => {
        try {
          await listener(event);
        } catch (error) {
          this.#listenerFailed(name, error);
        }
      }),
    );
  }

  #listenerFailed(name: GuardEventName, error: unknown): void {
    const err = toError(error);
    // Other events' listener failures become `error` events (which reach the logger); a failing
    // `error` listener can only be logged.
    if (name !== 'error') this.emit('error', { error: err, stage: 'listener' });
    else
      this.#logger?.error(
        { err: loggableError(err), event: name },
        `photodna-guard: an '${name}' listener threw`,
      );
  }

  #set(name: GuardEventName): Set<Listener<GuardEventName>> {
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    return set;
  }
}

/**
 * A deferred job's `url` (a `scan`, `match` or `reject` event) made not enumerable, as a match's
 * `buffer` is: a presigned URL carries its token in the query string, and a host that logs the
 * event whole (pino, `JSON.stringify`, `console.log`) would write it into its logs. Read by name,
 * it is there.
 */
function hideUrl(event: object): void {
  // Most events have no URL: one property read, no descriptor object, on every emit.
  const url = (event as { url?: unknown }).url;
  if (url === undefined || !Object.prototype.propertyIsEnumerable.call(event, 'url')) return;
  // Every attribute named: those left out keep the property's present ones (enumerable).
  Object.defineProperty(event, 'url', {
    value: url,
    enumerable: false,
    writable: true,
    configurable: true,
  });
}
