/**
 * The console's live panel: the guard's scan, match, quarantine, reject and error events as
 * server-sent events, each reduced to a whitelist of fields (never bytes, file names, IPs or
 * error messages), a once-a-second sample of calls/s and queue depth, and the service's health.
 * Each viewer's stream checks its session before every write (`live-stream.ts`); the samples
 * make that check run at least once a second, and a logout ends the session's streams at once.
 */
import type { ServerResponse } from 'node:http';
import type { ErrorEvent, MatchEvent, QuarantineEvent, RejectEvent, ScanEvent } from '../events.js';
import { consoleJson, HttpError } from './http-io.js';
import { LiveStream, type StreamAccess } from './live-stream.js';
import type { ConsoleEventSource } from './options.js';

export interface LiveSample {
  at: string;
  /** PhotoDNA calls in the last second (scans not answered from the cache). */
  calls: number;
  /** Files scanned in the last second, cached or not. */
  scans: number;
  queueDepth: number | null;
}

export interface LiveHealth {
  lastSuccess: string | null;
  lastError: { at: string; stage: string; reason: string | null; kind: string } | null;
}

type LiveEvent = Record<string, unknown>;

const HISTORY = 60;
const MAX_CLIENTS = 20;
/**
 * Streams one console session may hold (every tab of a browser shares its session). A further
 * one is refused, not an older one closed: closed, that tab's page would reconnect and close
 * another's, round and round.
 */
export const MAX_STREAMS_PER_SESSION = 3;
const HEARTBEAT_MS = 15_000;

export class LiveFeed {
  readonly #source: ConsoleEventSource;
  readonly #queueDepth: (() => number) | undefined;
  readonly #clients = new Set<LiveStream>();
  readonly #samples: LiveSample[] = [];
  readonly #health: LiveHealth = { lastSuccess: null, lastError: null };
  #calls = 0;
  #scans = 0;
  #timer: NodeJS.Timeout | undefined;
  #beats = 0;

  constructor(source: ConsoleEventSource, queueDepth?: () => number) {
    this.#source = source;
    this.#queueDepth = queueDepth;
    source.on('scan', this.#onScan);
    source.on('match', this.#onMatch);
    source.on('quarantine', this.#onQuarantine);
    source.on('reject', this.#onReject);
    source.on('error', this.#onError);
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
  }

  get health(): LiveHealth {
    return structuredClone(this.#health);
  }

  get samples(): LiveSample[] {
    return [...this.#samples];
  }

  /**
   * Streams to `res` while `access` allows (see `LiveStream`) and the client stays. Refuses a
   * session's fourth stream (429), so that one session cannot take every place, and any beyond
   * 20 viewers in all (503). `authorizedAt`: when the request opening it was authorized.
   */
  subscribe(res: ServerResponse, access: StreamAccess, authorizedAt: number): void {
    let ofSession = 0;
    for (const stream of this.#clients) if (stream.sessionId === access.sessionId) ofSession++;
    if (ofSession >= MAX_STREAMS_PER_SESSION) {
      throw new HttpError(
        429,
        `this session already has ${MAX_STREAMS_PER_SESSION} live streams open (console tabs share one): close one to free its place`,
      );
    }
    if (this.#clients.size >= MAX_CLIENTS) throw new HttpError(503, 'too many live viewers');
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    // HTTP/1 only: HTTP/2 has no connection-specific headers (Node warns and drops them).
    if (res.req?.httpVersionMajor === 1) res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const stream = new LiveStream(res, access, authorizedAt, this.#forget);
    this.#clients.add(stream);
    this.#send(stream, 'hello', { health: this.#health, samples: this.#samples });
  }

  /** Ends every stream of this console session (it logged out, or ended otherwise). */
  endSession(id: string): void {
    for (const stream of this.#clients) if (stream.sessionId === id) stream.end();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#source.off('scan', this.#onScan);
    this.#source.off('match', this.#onMatch);
    this.#source.off('quarantine', this.#onQuarantine);
    this.#source.off('reject', this.#onReject);
    this.#source.off('error', this.#onError);
    for (const stream of this.#clients) stream.end();
    this.#clients.clear();
  }

  readonly #onScan = (event: ScanEvent): void => {
    this.#scans++;
    if (!event.cached) this.#calls++;
    const at = new Date().toISOString();
    if (event.outcome !== 'unchecked') this.#health.lastSuccess = at;
    this.#broadcast('scan', {
      at,
      outcome: event.outcome,
      durationMs: Math.round(event.durationMs * 10) / 10,
      cached: event.cached,
      route: event.route ?? null,
      mimetype: event.file.mimetype,
      size: event.file.size,
    });
  };

  readonly #onMatch = (event: MatchEvent): void => {
    this.#broadcast('match', {
      at: new Date().toISOString(),
      route: event.route,
      policy: event.policy,
      incident: event.quarantineId ?? null,
      sources: event.matchFlags.map((flag) => String(flag.source)),
    });
  };

  readonly #onQuarantine = (event: QuarantineEvent): void => {
    this.#broadcast('quarantine', { at: new Date().toISOString(), incident: event.record.id });
  };

  readonly #onReject = (event: RejectEvent): void => {
    this.#broadcast('reject', {
      at: new Date().toISOString(),
      route: event.route,
      code: event.code,
      status: event.status,
    });
  };

  readonly #onError = (event: ErrorEvent): void => {
    const at = new Date().toISOString();
    // The kind of failure only: messages can carry details that do not belong on a screen.
    const code = (event.error as { code?: unknown }).code;
    const kind = typeof code === 'string' ? code : event.error.name;
    this.#health.lastError = { at, stage: event.stage, reason: event.reason ?? null, kind };
    this.#broadcast('error', { at, stage: event.stage, reason: event.reason ?? null, kind });
  };

  #tick(): void {
    const sample: LiveSample = {
      at: new Date().toISOString(),
      calls: this.#calls,
      scans: this.#scans,
      queueDepth: this.#readQueueDepth(),
    };
    this.#calls = 0;
    this.#scans = 0;
    this.#samples.push(sample);
    if (this.#samples.length > HISTORY) this.#samples.shift();
    this.#broadcast('sample', { ...sample, health: this.#health });
    if (++this.#beats % (HEARTBEAT_MS / 1000) === 0) {
      for (const stream of this.#clients) stream.write(': keep-alive\n\n');
    }
  }

  #readQueueDepth(): number | null {
    try {
      const depth = this.#queueDepth?.();
      return typeof depth === 'number' && Number.isFinite(depth) ? depth : null;
    } catch {
      return null;
    }
  }

  #broadcast(name: string, data: LiveEvent): void {
    if (this.#clients.size === 0) return;
    const chunk = `event: ${name}\ndata: ${consoleJson(data)}\n\n`;
    for (const stream of this.#clients) stream.write(chunk);
  }

  #send(stream: LiveStream, name: string, data: unknown): void {
    stream.write(`event: ${name}\ndata: ${consoleJson(data)}\n\n`);
  }

  readonly #forget = (stream: LiveStream): void => {
    this.#clients.delete(stream);
  };
}
