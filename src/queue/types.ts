import type { ClientNetwork } from '../core/client-address.js';
import type { UnavailableReason } from '../errors.js';
/**
 * The durable scan queue: what a deferred scan job holds, and what every engine (embedded SQLite,
 * BullMQ on Redis) offers the guard (enqueue, depth) and the worker (consume).
 */
import type { Policy } from '../types.js';

/** Where a job's image comes from. */
export type JobSource =
  /** A private copy of the bytes, kept by the engine until the job is done. */
  | { kind: 'bytes'; bytes: Uint8Array }
  /** A reference the host resolves with the worker's `load(ref)` function (its own storage). */
  | { kind: 'ref'; ref: string }
  /**
   * An absolute http(s) URL of the image (at most 8,192 characters). With the PhotoDNA client as
   * matcher, the service fetches it (Match-by-URL: no bytes pass through the worker, the URL must
   * be reachable from the service, e.g. a presigned object URL); otherwise the worker downloads it
   * (at most `limits.maxFileSize` bytes, see the worker's `download` option). On a match the
   * worker downloads the image as evidence for the quarantine store, which records the URL (query
   * string redacted). The URL is kept in the queue as given: it may hold a token until the job is
   * done, when the queue drops it with the rest of the job's data.
   */
  | { kind: 'url'; url: string };

/** Who uploaded the file, for the `match` event and the quarantine record. */
export interface UploaderContext {
  route: string;
  /** The matched route's pattern, when known (`ScanEvent.routePattern`): metrics label by it. */
  routePattern?: string;
  method: string;
  ip: string;
  /** The socket peer, forwarding headers as received and the derived address (evidence). */
  network?: ClientNetwork;
  userAgent?: string;
  /** ISO time the upload was received. */
  receivedAt: string;
}

/** What `enqueue` takes. */
export interface ScanJobInput {
  /** The job id, echoed on `scan`/`match` events. Defaults to a random UUID. */
  scanId?: string;
  source: JobSource;
  /** The multipart field and the client's file name (data only). Defaults to `file` / `''`. */
  field?: string;
  originalname?: string;
  /** The host's own metadata (JSON), echoed on the events. Defaults to none. */
  metadata?: Record<string, unknown>;
  /**
   * Defaults to a `deferred` route with no uploader address, received at enqueue time. Checked at
   * enqueue (`uploaderSchema`), a bad field refused with a `TypeError` naming it: strings where
   * strings belong, `route` non-empty, `method` an HTTP method token, no unknown key. A long field
   * is cut, never refused: `route` to 2,048 characters, `routePattern` and `userAgent` to 1,024,
   * `network.forwardedFor`/`network.forwarded` to 512, `ip` and `network.peer`/`network.derived`
   * to 64, `method` to 32.
   */
  uploader?: Partial<Omit<UploaderContext, 'receivedAt'>> & {
    /**
     * When the upload was received: an ISO 8601 date-time with its time zone (as
     * `new Date().toISOString()` writes it) or a `Date`, stored as ISO (UTC); anything else is
     * refused at enqueue. Defaults to the enqueue time.
     */
    receivedAt?: string | Date;
  };
  /** The policy for a match. Defaults to the worker's. `'block'` acts as `'quarantine'`. */
  policy?: Policy;
}

/** A job as stored (JSON-safe): the bytes live apart, in the engine's byte store. */
export interface StoredJob {
  scanId: string;
  source: { kind: 'bytes' } | { kind: 'ref'; ref: string } | { kind: 'url'; url: string };
  field: string;
  originalname: string;
  metadata?: Record<string, unknown>;
  uploader: UploaderContext;
  policy?: Policy;
  /** `Date.now()` at enqueue. */
  enqueuedAt: number;
  /**
   * A random id of the `enqueue` call that stored the job (BullMQ, when given a `signal`): a
   * refusal recorded for it (`EnqueueOptions.signal`) withdraws this job, never another job of
   * the same `scanId`.
   */
  enqueueId?: string;
  /**
   * The hold the job was enqueued under (`EnqueueOptions.holdId`): it runs once the hold is
   * released, and ends `refused` when it is withdrawn or never released.
   */
  holdId?: string;
}

/** A claimed job, handed to the worker. */
export interface ClaimedJob extends StoredJob {
  /** 1 for the first run. */
  attempt: number;
  /**
   * The private copy (source `bytes` only). Rejects with a `JobBytesGoneError` when it no longer
   * exists, with any other error when it could not be read this time.
   */
  bytes(): Promise<Buffer>;
}

/**
 * The outcome kept for a finished job. `unchecked`: its image was gone (its private copy or bytes
 * key deleted, `load(ref)` resolved `null`), so it was never checked; its `reject` event says so.
 * `refused`: its request was refused (its `enqueue` aborted, `EnqueueOptions.signal`, or its hold
 * withdrawn or never released, `EnqueueOptions.holdId`) after the job was stored; it was never
 * checked and emitted no event.
 */
export type JobOutcome = 'clean' | 'match' | 'invalid' | 'unchecked' | 'refused';

export type JobResult =
  | { done: true; outcome: JobOutcome; detail?: string }
  | { done: false; retryInMs: number; detail: string };

export interface QueueDepth {
  /** Jobs waiting to be scanned (including those waiting for a retry); not the `held`. */
  waiting: number;
  /** Jobs being scanned. */
  active: number;
  /**
   * Jobs held for their request's verdict (`EnqueueOptions.holdId`), which may never run; not
   * counted in `waiting`. Embedded: a row whose withdrawal could not be written stays held until
   * the next open. BullMQ: read from a count kept beside the holds (never job by job); a held job
   * whose hold expired without a verdict waits (to be refused by a worker) once its delay,
   * `HOLD_MS` (10 minutes), has ended, and a count Redis lost (a process dying between a release
   * and its count) is off until then. Optional: a queue of another engine may not count them.
   */
  held?: number;
  /**
   * Age in ms of the oldest job waiting or being scanned (0 when none); BullMQ's held jobs
   * included.
   */
  oldestAgeMs: number;
}

/** How `enqueue` is called. */
export interface EnqueueOptions {
  /**
   * Withdraws the enqueue: aborted before `enqueue` resolves, it rejects (with the signal's
   * reason) and the job it was storing never runs as if accepted: the embedded queue does not
   * store it; BullMQ, whose commands Redis may still run later (ioredis sends what it queued once
   * Redis answers), records the refusal after them, deletes the bytes and the job, and a worker
   * that claims the job anyway ends it as `refused` without checking it or emitting any event. A
   * job of the same `scanId` stored by another call is left alone. The guard aborts it when its
   * queue has not answered within `scanTimeoutMs` (the upload is then refused 503).
   */
  signal?: AbortSignal;
  /**
   * Holds the job with the others of the same hold (one request's files) until `release(holdId)`
   * makes them all runnable, or `withdraw(holdId)` ends them all `refused`, never checked and
   * without an event. A hold never released (its process died before the request's verdict) is
   * refused: by BullMQ `HOLD_MS` after its last enqueue, by the embedded queue at its next open. A
   * random id (`[A-Za-z0-9_-]`, at most 128 characters) the caller makes, one per hold; only for a
   * queue that has `release`.
   */
  holdId?: string;
}

/** The guard's side of a queue: add jobs, read the depth. */
export interface ScanQueue {
  readonly engine: 'embedded' | 'bullmq';
  /** Durably stores the job (and its bytes) before it resolves. An existing `scanId` is a no-op. */
  enqueue(input: ScanJobInput, options?: EnqueueOptions): Promise<{ scanId: string }>;
  depth(): Promise<QueueDepth>;
  close(): Promise<void>;
  /**
   * Makes the jobs of a hold runnable (`EnqueueOptions.holdId`), durably before it resolves: they
   * run even if the process dies right after. `scanIds` are the jobs its enqueues resolved. Rejects
   * when they can no longer run (withdrawn, or expired): they end `refused`. The
   * engines of this package have it; a queue without it gets no `holdId`.
   */
  release?(holdId: string, scanIds: readonly string[]): Promise<void>;
  /**
   * Withdraws a hold: its jobs, those stored and any still on their way, end `refused`, never
   * checked and without an event. Jobs it could not reach are refused when the hold expires. A
   * later enqueue into the hold is refused at once, its bytes not stored.
   */
  withdraw?(holdId: string, scanIds: readonly string[]): Promise<void>;
}

export interface Consumer {
  /** Stops claiming, waits for running jobs. */
  close(): Promise<void>;
}

/** The worker's side: jobs are handed to `handler` at most `concurrency` at a time. */
export interface QueueEngine extends ScanQueue {
  consume(
    handler: (job: ClaimedJob) => Promise<JobResult>,
    options: {
      concurrency: number;
      /**
       * Told of each held job the engine ends `refused` because its hold expired without a
       * verdict (not withdrawn). BullMQ calls it: there the guard's process may have died before
       * answering, or Redis may have lost a release the guard had recorded and answered (a
       * failover; a crash under `appendfsync everysec`), the upload then accepted and never
       * checked, and the two cannot be told apart. The embedded engine never does: its release is
       * an fsync'd commit, so a hold it finds unreleased at open is one whose request was never
       * answered as accepted.
       */
      onHoldExpired?: (job: StoredJob) => void;
    },
  ): Consumer;
  /**
   * Calls `listener` when the engine's connection fails (BullMQ: its Redis unreachable or
   * refusing), at most once per 30 s while that lasts, credentials removed, with the reason
   * (`unauthorized`, `server-error` or `network`). The embedded engine calls it when it cannot
   * store a claim or a finished job (a full disk), once until a claim is stored again
   * (`store-failure`).
   */
  onConnectionError?(listener: (error: Error, reason: UnavailableReason) => void): void;
}

/** Most bytes one job may carry: PhotoDNA's 4 MiB maximum. */
export const MAX_JOB_BYTES = 4 * 1024 * 1024;

/** Longest URL of a `url` job. */
export const MAX_JOB_URL_LENGTH = 8_192;

const SCAN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Whether `id` is a valid scan id (it names a file in the embedded engine, a key in Redis). */
export function isScanId(id: string): boolean {
  return SCAN_ID.test(id);
}

export function assertScanId(id: string): void {
  if (!isScanId(id)) throw new TypeError('scanId must be 1-128 characters of [A-Za-z0-9_-]');
}
