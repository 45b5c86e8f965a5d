import { setMaxListeners } from 'node:events';
import { UploadAborted } from '../multipart/parser.js';
import type { Waiter } from './abortable.js';
import { type ClientNetwork, clientNetwork, uploaderIp } from './client-address.js';
import type { HeldJobs } from './defer.js';
import type { PathCase, RequestView } from './request-view.js';

const DEADLINE_PASSED = 'the scan deadline (scanTimeoutMs) passed';

/**
 * Longest `userAgent` kept as evidence (a header, up to 16 KiB in Node: cut, not refused): the
 * request's events and records, and a deferred job's `uploader` (`uploaderSchema`).
 */
export const MAX_USER_AGENT_CHARS = 1_024;

/**
 * An event's `route` and, when known, `routePattern`, to spread into the event: an unknown
 * pattern leaves no `routePattern: undefined` key (events are compared and logged as built).
 */
export function routeFields(ctx: Pick<RequestContext, 'route' | 'routePattern'>): {
  route: string;
  routePattern?: string;
} {
  const { route, routePattern } = ctx;
  return routePattern === undefined ? { route } : { route, routePattern };
}

/**
 * The core's per-request state. Fields are set in the constructor (a stable shape); what only
 * events, logs, records and path rules need (the path, the address, the `Date`) is computed on
 * first read. The request stops once, when the uploader leaves or the armed deadline passes:
 * `settle` races work against that (no `Promise.race`, no `AbortController`), and the one
 * `AbortController` exists only once something reads `signal`. Neither the leave watcher nor the
 * deadline timer exists before the first `settle` or `signal`.
 */
export class RequestContext implements Waiter {
  readonly method: string;
  /** The framework's request (Express `req`, Koa `ctx`), handed to policy functions. */
  readonly raw: unknown;
  /**
   * The request's queued jobs, held until its verdict (`defer.ts`): released as it passes,
   * withdrawn as it is refused. Unset while nothing was queued.
   */
  held: HeldJobs | undefined;
  readonly #view: RequestView;
  readonly #receivedMs: number;
  #route: string | undefined;
  /** `null` until read (the pattern itself may be undefined). */
  #routePattern: string | undefined | null;
  #network: ClientNetwork | undefined;
  #clientKey: string | undefined;
  #receivedAt: Date | undefined;
  #controller: AbortController | undefined;
  #deadlineMs: number;
  #timer: NodeJS.Timeout | undefined;
  #watching: boolean;
  /** Why the request stopped (`UploadAborted` or the deadline's `TimeoutError`); unset until then. */
  #stopped: Error | undefined;
  /** The `settle` promises waiting on this request, rejected when it stops. */
  #waiting: Array<(reason: Error) => void> | undefined;

  constructor(view: RequestView) {
    this.method = view.method;
    this.raw = view.raw;
    this.held = undefined;
    this.#view = view;
    this.#receivedMs = Date.now();
    this.#route = undefined;
    this.#routePattern = null;
    this.#network = undefined;
    this.#clientKey = undefined;
    this.#receivedAt = undefined;
    this.#controller = undefined;
    this.#deadlineMs = 0;
    this.#timer = undefined;
    this.#watching = false;
    this.#stopped = undefined;
    this.#waiting = undefined;
  }

  /** The request path without the query string. */
  get route(): string {
    this.#route ??= this.#view.path();
    return this.#route;
  }

  /** The matched route's pattern, when the framework knew it as the guard ran (`RequestView`). */
  get routePattern(): string | undefined {
    if (this.#routePattern === null) this.#routePattern = this.#view.routePattern?.();
    return this.#routePattern;
  }

  /** How the router compares paths by case (path rules follow it). */
  get pathCase(): PathCase {
    return this.#view.pathCase?.() ?? 'unknown';
  }

  /**
   * The uploader's address: the framework's (Express `req.ip` honouring `trust proxy`, Koa
   * `ctx.ip`) when it is an IP address, else the socket peer's. Never a client-written string.
   */
  get ip(): string {
    return uploaderIp(this.network);
  }

  /** Peer, forwarding headers as received, and the derived address (evidence). */
  get network(): ClientNetwork {
    this.#network ??= clientNetwork(this.#view.headers, this.#view.peer?.(), this.#view.ip());
    return this.#network;
  }

  /**
   * The uploader's key for fair shares and per-uploader caching: the host's `clientKey(req)`
   * (once per request), else the address. A function that throws or answers a non-string falls
   * back to the address.
   */
  clientKeyBy(clientKey: ((req: unknown) => string) | undefined): string {
    if (this.#clientKey === undefined) {
      let key: unknown;
      try {
        key = clientKey?.(this.raw);
      } catch {
        key = undefined;
      }
      this.#clientKey = typeof key === 'string' && key !== '' ? `k:${key}` : `ip:${this.ip}`;
    }
    return this.#clientKey;
  }

  /** The `User-Agent` header, cut to `MAX_USER_AGENT_CHARS` (cut on read: most requests never ask). */
  get userAgent(): string | undefined {
    const agent = this.#view.headers['user-agent'];
    if (typeof agent !== 'string') return undefined;
    return agent.slice(0, MAX_USER_AGENT_CHARS);
  }

  get receivedAt(): Date {
    this.#receivedAt ??= new Date(this.#receivedMs);
    return this.#receivedAt;
  }

  /**
   * Aborts with `UploadAborted` when the uploader leaves, or with a `TimeoutError` once the
   * armed deadline passes. Created on first read.
   */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      // Every file's call may listen (the rate limiter's wait, the HTTP request): more than Node's
      // default of 10 with `maxFiles` above 10 or a host parser's files, which is no leak.
      setMaxListeners(0, this.#controller.signal);
      if (this.#stopped) this.#controller.abort(this.#stopped);
      else this.#watch();
    }
    return this.#controller.signal;
  }

  /** Whether the uploader left or the deadline passed. */
  get stopped(): boolean {
    return this.#stopped !== undefined;
  }

  /** Settles with `work`, or rejects with the reason as soon as the request stops. */
  settle<T>(work: Promise<T>): Promise<T> {
    this.#watch(); // may stop it at once (the uploader already left)
    const stopped = this.#stopped;
    if (stopped) {
      work.catch(() => {}); // its outcome no longer matters: never an unhandled rejection
      return Promise.reject(stopped);
    }
    // One promise, settled by whichever comes first (no `Promise.race`, no stop promise).
    return new Promise<T>((resolve, reject) => {
      if (this.#waiting) this.#waiting.push(reject);
      else this.#waiting = [reject];
      work.then(resolve, reject);
    });
  }

  /** Whether the uploader has left already: starts the leave watch, as the first wait does. */
  hasLeft(): boolean {
    this.#watch();
    return this.clientLeft;
  }

  /** Whether the uploader left (not: whether the deadline passed). */
  get clientLeft(): boolean {
    return this.#stopped instanceof UploadAborted;
  }

  /** Whether `error` is this request's deadline passing. */
  isDeadline(error: unknown): boolean {
    return this.#stopped !== undefined && error === this.#stopped && !this.clientLeft;
  }

  /** One deadline for all the request's files; its timer starts once something waits. */
  armDeadline(ms: number): void {
    this.#deadlineMs = ms;
    if (this.#watching && !this.#timer) this.#startTimer();
  }

  disarmDeadline(): void {
    this.#deadlineMs = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    const leave = () => this.#end(new UploadAborted());
    if (this.#view.watchGone(leave)) leave();
    else if (this.#deadlineMs > 0) this.#startTimer();
  }

  #startTimer(): void {
    this.#timer = setTimeout(
      () => this.#end(new DOMException(DEADLINE_PASSED, 'TimeoutError')),
      this.#deadlineMs,
    );
  }

  #end(reason: Error): void {
    if (this.#stopped) return;
    this.#stopped = reason;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#controller?.abort(reason);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) for (const reject of waiting) reject(reason);
  }
}
