import { UploadAborted } from '../multipart/parser.js';
import { type ClientNetwork, clientNetwork, uploaderIp } from './client-address.js';
import type { RequestView } from './request-view.js';

const DEADLINE_PASSED = 'the scan deadline (scanTimeoutMs) passed';

/**
 * The core's per-request state. Fields are set in the constructor (a stable shape); what only
 * events, logs, records and path rules need (the path, the address, the `Date`) is computed on
 * first read, and the request's one `AbortController` and one deadline timer exist only once
 * something reads `signal`.
 */
export class RequestContext {
  readonly method: string;
  /** The framework's request (Express `req`, Koa `ctx`), handed to policy functions. */
  readonly raw: unknown;
  readonly #view: RequestView;
  readonly #receivedMs: number;
  #route: string | undefined;
  #network: ClientNetwork | undefined;
  #clientKey: string | undefined;
  #receivedAt: Date | undefined;
  #controller: AbortController | undefined;
  #deadlineMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(view: RequestView) {
    this.method = view.method;
    this.raw = view.raw;
    this.#view = view;
    this.#receivedMs = Date.now();
    this.#route = undefined;
    this.#network = undefined;
    this.#clientKey = undefined;
    this.#receivedAt = undefined;
    this.#controller = undefined;
    this.#deadlineMs = 0;
    this.#timer = undefined;
  }

  /** The request path without the query string. */
  get route(): string {
    this.#route ??= this.#view.path();
    return this.#route;
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

  get userAgent(): string | undefined {
    const agent = this.#view.headers['user-agent'];
    return typeof agent === 'string' ? agent : undefined;
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
      const controller = new AbortController();
      this.#controller = controller;
      const leave = () => controller.abort(new UploadAborted());
      if (this.#view.watchGone(leave)) leave();
      if (this.#deadlineMs > 0) this.#startTimer();
    }
    return this.#controller.signal;
  }

  /** Whether the uploader left (not: whether the deadline passed). */
  get clientLeft(): boolean {
    const signal = this.#controller?.signal;
    return signal?.aborted === true && signal.reason instanceof UploadAborted;
  }

  /** Whether `error` is this request's deadline passing. */
  isDeadline(error: unknown): boolean {
    const signal = this.#controller?.signal;
    return signal?.aborted === true && error === signal.reason && !this.clientLeft;
  }

  /** One deadline for all the request's files; its timer starts when the signal is created. */
  armDeadline(ms: number): void {
    this.#deadlineMs = ms;
    if (this.#controller && !this.#timer) this.#startTimer();
  }

  disarmDeadline(): void {
    this.#deadlineMs = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #startTimer(): void {
    const controller = this.#controller as AbortController;
    this.#timer = setTimeout(
      () => controller.abort(new DOMException(DEADLINE_PASSED, 'TimeoutError')),
      this.#deadlineMs,
    );
  }
}
