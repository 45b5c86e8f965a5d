/**
 * The embedded scan queue (`queue: { dir }`): one SQLite database (better-sqlite3, WAL,
 * `synchronous = FULL` for what must survive a power loss) for the jobs, and one file per
 * private copy of the bytes, written like the quarantine store's evidence (0700 directory, 0600
 * files, fsync'd and renamed, directory fsync'd); `queue.db` and its WAL are 0600 too
 * (`private-db-file.ts`). Needs nothing but the disk.
 *
 * - Single process: the database is opened with `locking_mode = EXCLUSIVE`, so a second process
 *   fails to open it instead of sharing it unsafely. Use BullMQ (`queue: { redis }`) for more.
 * - `kill -9` loses nothing: a job is in the database (and its bytes on disk) before `enqueue`
 *   resolves; a job that was running when the process died is waiting again at the next open.
 * - A finished job is marked `done` in one transaction and is never handed out again; its row is
 *   kept `keepDoneDays` (so re-enqueueing the same `scanId` is a no-op) with its id, outcome and
 *   times alone: the job's JSON (a URL with its token, the uploader's address, user agent, file
 *   name, metadata) is emptied in that transaction and its bytes deleted. `secure_delete` zeroes
 *   what a write frees, so the database file keeps no copy either (the WAL may, until the next
 *   checkpoint reuses it; it is removed at close).
 * - Bytes files without a waiting or running job (a crash between the two steps of `enqueue` or
 *   of finishing) are removed at open.
 * - Held jobs (`EnqueueOptions.holdId`: one request's files) are stored `held`, never claimed, and
 *   committed without an fsync of their own: `release` makes them `waiting` in one fsync'd
 *   transaction (which takes their rows to disk too), `withdraw` ends them `refused` and, for
 *   `WITHDRAWN_MS`, refuses an enqueue into their hold. Jobs still held at open belong to
 *   requests of a dead process that never got their answer: they end `refused` then, silently
 *   (no `onHoldExpired`: unlike BullMQ's Redis, which may lose a release it acknowledged, the
 *   release here is an fsync'd commit before the guard answers, so an unreleased row is never
 *   an accepted upload; a withdrawal, not fsync'd, may come back held too).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { UnavailableReason } from '../errors.js';
import { syncDir, unlinkIfPresent, writeFileAtomic } from '../quarantine/atomic-file.js';
import { DIR_MODE, ensurePrivateDir } from '../quarantine/private-dir.js';
import { JobBytesGoneError } from './job-bytes-gone.js';
import { keepDoneDaysOf } from './keep-done.js';
import { loadSqlite, type SqliteDatabase, type SqliteStatement } from './load-sqlite.js';
import { DB_FILE_MODE, ensurePrivateDbFile } from './private-db-file.js';
import { toStoredJob } from './stored-job.js';
import {
  assertScanId,
  type ClaimedJob,
  type Consumer,
  type EnqueueOptions,
  type JobResult,
  type QueueDepth,
  type QueueEngine,
  type ScanJobInput,
  type StoredJob,
} from './types.js';
import { setNewest, WithdrawnHolds } from './withdrawn-holds.js';

export interface EmbeddedQueueOptions {
  /** The queue's directory: created 0700; holds `queue.db` and `bytes/`. */
  dir: string;
  /**
   * Days a finished job's row (its id, outcome and times alone) is kept: re-enqueueing its
   * `scanId` is a no-op meanwhile. Defaults to `7`; at most `3650` (ten years), as with BullMQ.
   */
  keepDoneDays?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  scan_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  run_at INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  payload TEXT NOT NULL,
  outcome TEXT,
  detail TEXT,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (state, run_at);
`;

/** A done job's `payload`: nothing of the job is kept but its row's id, outcome and times. */
const DONE_PAYLOAD = '{}';

/** Longest sleep of an idle consumer before it looks again, in ms. */
const IDLE_POLL_MS = 1_000;
/**
 * The most withdrawals a full disk could not write kept in memory to write again (their held
 * scan ids, a request's files each): a long full-disk spell refusing many requests must not grow
 * the process without bound. Past it the oldest waits for the next open, as before.
 */
const MAX_UNWRITTEN_WITHDRAWALS = 10_000;
const DAY_MS = 86_400_000;

/**
 * A new job's row: its id, whether it waits for a release (`held`), when it was enqueued (and may
 * first run), its JSON.
 */
interface JobRow {
  scanId: string;
  state: 'waiting' | 'held';
  at: number;
  payload: string;
}

interface Row {
  scan_id: string;
  attempts: number;
  payload: string;
}

export async function openEmbeddedQueue(options: EmbeddedQueueOptions): Promise<QueueEngine> {
  const keepDoneDays = keepDoneDaysOf(options.keepDoneDays);
  const dir = resolve(options.dir);
  const bytesDir = join(dir, 'bytes');
  await ensurePrivateDir(dir, (mode) => warnLoose(dir, mode, DIR_MODE));
  await ensurePrivateDir(bytesDir, (mode) => warnLoose(bytesDir, mode, DIR_MODE));
  const Database = await loadSqlite();
  const dbPath = join(dir, 'queue.db');
  await ensurePrivateDbFile(dbPath, (file, mode) => warnLoose(file, mode, DB_FILE_MODE));
  const db = new Database(dbPath, { timeout: 1_000 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // A done job's emptied payload, and deleted rows, are overwritten in the file, not left in
    // its free space (SQLite's default).
    db.pragma('secure_delete = ON');
    db.exec(SCHEMA);
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    throw new Error(
      `the embedded scan queue in ${dir} is open in another process (it serves one process; use queue: { redis } for more)`,
      { cause: error },
    );
  }
  const queue = new EmbeddedQueue(db, bytesDir, keepDoneDays * DAY_MS);
  await queue.recover();
  return queue;
}

/** A queue path other users could read, now private: said, with what to check. */
function warnLoose(path: string, mode: number, now: number): void {
  process.emitWarning(
    `photodna-guard: the scan queue's ${path} had mode ${mode.toString(8)}, so other users could read its jobs (URLs with their tokens, uploader addresses, file names); it is now ${now.toString(8)}. Check who could read it before.`,
    { code: 'PHOTODNA_GUARD_QUEUE_FILES' },
  );
}

class EmbeddedQueue implements QueueEngine {
  readonly engine = 'embedded' as const;
  readonly #db: SqliteDatabase;
  readonly #bytesDir: string;
  readonly #keepDoneMs: number;
  readonly #consumers = new Set<EmbeddedConsumer>();
  readonly #sql: Record<
    | 'insert'
    | 'exists'
    | 'claim'
    | 'finish'
    | 'retry'
    | 'counts'
    | 'oldest'
    | 'nextRun'
    | 'release'
    | 'held'
    | 'refuseHeld',
    SqliteStatement
  >;
  readonly #insertAll: (rows: readonly JobRow[]) => void;
  readonly #releaseAll: (scanIds: readonly string[]) => void;
  readonly #refuseAllHeld: (scanIds: readonly string[]) => void;
  /**
   * The held rows of withdrawals that could not be written (a full disk), by hold: written again
   * after the next commit, claim pass or release that succeeds, so they end `refused` once there
   * is space, not at the next open. At most `MAX_UNWRITTEN_WITHDRAWALS` holds, the oldest
   * forgotten first: its rows are then refused at the next open, as before.
   */
  readonly #unwritten = new Map<string, readonly string[]>();
  /** Rows waiting for this turn's group commit (`#insert`). */
  readonly #batch: Array<{
    row: JobRow;
    signal: AbortSignal | undefined;
    holdId: string | undefined;
    resolve: () => void;
    reject: (error: unknown) => void;
  }> = [];
  /** Withdrawn holds: an enqueue into one, even one under way as it was withdrawn, is refused. */
  readonly #withdrawn = new WithdrawnHolds();
  readonly #failureListeners = new Set<(error: Error, reason: UnavailableReason) => void>();
  /** A claim or settle failed and no claim has been stored since: said once per such spell. */
  #failing = false;
  #closed = false;

  constructor(db: SqliteDatabase, bytesDir: string, keepDoneMs: number) {
    this.#db = db;
    this.#bytesDir = bytesDir;
    this.#keepDoneMs = keepDoneMs;
    this.#sql = {
      insert: db.prepare(
        'INSERT OR IGNORE INTO jobs (scan_id, state, run_at, enqueued_at, payload) VALUES (?, ?, ?, ?, ?)',
      ),
      exists: db.prepare('SELECT 1 FROM jobs WHERE scan_id = ?'),
      claim: db.prepare(
        `UPDATE jobs SET state = 'active', attempts = attempts + 1 WHERE scan_id = (
           SELECT scan_id FROM jobs WHERE state = 'waiting' AND run_at <= ? ORDER BY run_at, rowid LIMIT 1
         ) RETURNING scan_id, attempts, payload`,
      ),
      finish: db.prepare(
        "UPDATE jobs SET state = 'done', outcome = ?, detail = ?, finished_at = ?, payload = ? WHERE scan_id = ? AND state = 'active'",
      ),
      retry: db.prepare(
        "UPDATE jobs SET state = 'waiting', run_at = ?, detail = ? WHERE scan_id = ? AND state = 'active'",
      ),
      counts: db.prepare(
        "SELECT state, COUNT(*) AS n FROM jobs WHERE state != 'done' GROUP BY state",
      ),
      oldest: db.prepare(
        "SELECT MIN(enqueued_at) AS at FROM jobs WHERE state IN ('waiting', 'active')",
      ),
      nextRun: db.prepare("SELECT MIN(run_at) AS at FROM jobs WHERE state = 'waiting'"),
      release: db.prepare("UPDATE jobs SET state = 'waiting' WHERE scan_id = ? AND state = 'held'"),
      held: db.prepare("SELECT 1 FROM jobs WHERE scan_id = ? AND state = 'held'"),
      refuseHeld: db.prepare(
        "UPDATE jobs SET state = 'done', outcome = 'refused', finished_at = ?, payload = ? WHERE scan_id = ? AND state = 'held'",
      ),
    };
    const { insert, release, refuseHeld } = this.#sql;
    this.#insertAll = db.transaction((rows: readonly JobRow[]) => {
      for (const row of rows) insert.run(row.scanId, row.state, row.at, row.at, row.payload);
    });
    this.#releaseAll = db.transaction((scanIds: readonly string[]) => {
      for (const scanId of scanIds) {
        // Rolled back whole: a request's jobs run all or none.
        if (release.run(scanId).changes !== 1)
          throw new Error(`the job ${scanId} is not held (withdrawn, or never stored)`);
      }
    });
    this.#refuseAllHeld = db.transaction((scanIds: readonly string[]) => {
      const now = Date.now();
      for (const scanId of scanIds) refuseHeld.run(now, DONE_PAYLOAD, scanId);
    });
  }

  /**
   * At open: running jobs of a dead process wait again; old rows and orphan bytes go, and so do
   * the payloads that earlier versions kept in done rows.
   */
  async recover(): Promise<void> {
    this.#db.prepare("UPDATE jobs SET state = 'waiting' WHERE state = 'active'").run();
    // Held by a request of a dead process: it never answered, so the host kept no `scanId`.
    this.#db
      .prepare(
        "UPDATE jobs SET state = 'done', outcome = 'refused', finished_at = ?, payload = ? WHERE state = 'held'",
      )
      .run(Date.now(), DONE_PAYLOAD);
    this.#db
      .prepare("DELETE FROM jobs WHERE state = 'done' AND finished_at < ?")
      .run(Date.now() - this.#keepDoneMs);
    this.#db
      .prepare("UPDATE jobs SET payload = ? WHERE state = 'done' AND payload != ?")
      .run(DONE_PAYLOAD, DONE_PAYLOAD);
    const live = this.#db.prepare("SELECT 1 FROM jobs WHERE scan_id = ? AND state != 'done'");
    let removed = false;
    for (const name of await readdir(this.#bytesDir)) {
      if (live.get(name) === undefined) {
        removed = (await unlinkIfPresent(join(this.#bytesDir, name))) || removed;
      }
    }
    if (removed) await syncDir(this.#bytesDir);
  }

  /**
   * An aborted `signal` (the guard's deadline passed: the upload is refused) stops the job before
   * its commit, which is synchronous: a row committed resolves the caller before any timer can
   * abort, a row not committed never is. The bytes written meanwhile (a slow disk, a saturated
   * thread pool) are removed.
   */
  async enqueue(
    input: ScanJobInput,
    { signal, holdId }: EnqueueOptions = {},
  ): Promise<{ scanId: string }> {
    signal?.throwIfAborted();
    if (this.#closed) throw new Error('the scan queue is closed');
    if (holdId !== undefined) {
      assertScanId(holdId);
      this.#refuseWithdrawn(holdId);
    }
    const job = toStoredJob(input);
    // Here, not in the shared commit: metadata that cannot be serialized fails this job alone.
    const payload = JSON.stringify(job);
    if (this.#sql.exists.get(job.scanId) !== undefined) return { scanId: job.scanId };
    // The bytes first: a job row always has its bytes; a crash in between leaves an orphan file
    // that the next open removes.
    if (input.source.kind === 'bytes')
      await writeFileAtomic(this.#bytesDir, job.scanId, input.source.bytes);
    try {
      signal?.throwIfAborted();
      if (this.#closed) throw new Error('the scan queue was closed before the job was stored');
      const state = holdId === undefined ? 'waiting' : 'held';
      await this.#insert(
        { scanId: job.scanId, state, at: job.enqueuedAt, payload },
        signal,
        holdId,
      );
    } catch (error) {
      // Not stored, its upload refused. A close leaves the copy to the next open.
      const refused = signal?.aborted || (holdId !== undefined && this.#withdrawn.has(holdId));
      if (input.source.kind === 'bytes' && refused && !this.#closed)
        await this.#dropCopy(job.scanId);
      throw error;
    }
    return { scanId: job.scanId };
  }

  /**
   * Refuses an enqueue into a withdrawn hold: its request was refused, its job would be held
   * until the next open, never released (a withdrawal is final), its copy kept meanwhile.
   */
  #refuseWithdrawn(holdId: string): void {
    if (this.#withdrawn.has(holdId)) throw new Error("the request's jobs were withdrawn");
  }

  /** An aborted enqueue's copy, unless a job of its `scanId` (another enqueue's) holds that file. */
  async #dropCopy(scanId: string): Promise<void> {
    if (this.#sql.exists.get(scanId) !== undefined) return;
    if (await unlinkIfPresent(join(this.#bytesDir, scanId))) await syncDir(this.#bytesDir);
  }

  /**
   * Stores the job's row, durably (`synchronous = FULL`: the WAL fsync'd) before it resolves.
   * Rows of enqueues that overlap are written in one transaction at the end of the event loop's
   * turn (group commit): one fsync for all of them, where a commit each blocked the event loop
   * for an fsync each (~0.4 ms on an SSD, ms on network disks).
   */
  #insert(row: JobRow, signal: AbortSignal | undefined, holdId?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#batch.push({ row, signal, holdId, resolve, reject });
      if (this.#batch.length === 1) setImmediate(() => this.#commit());
    });
  }

  #commit(): void {
    const batch = this.#batch.splice(0).filter((pending) => {
      // Aborted, or its hold withdrawn, since it was queued (its bytes being written meanwhile):
      // its upload is refused, it is not stored.
      try {
        pending.signal?.throwIfAborted();
        if (pending.holdId !== undefined) this.#refuseWithdrawn(pending.holdId);
        return true;
      } catch (error) {
        pending.reject(error);
        return false;
      }
    });
    if (batch.length === 0) return;
    try {
      this.#store(batch.map((pending) => pending.row));
      for (const pending of batch) pending.resolve();
      this.#writeUnwrittenWithdrawals();
    } catch {
      // One row's failure must not fail the others: each in its own commit, as before batching.
      for (const pending of batch) {
        try {
          this.#store([pending.row]);
          pending.resolve();
        } catch (error) {
          pending.reject(error);
        }
      }
    }
    // Once per commit, not per job: each wake claims until the consumer is full or none is due.
    if (!this.#closed) for (const consumer of this.#consumers) consumer.wake();
  }

  /**
   * Commits new rows. Held rows alone are not fsync'd: a power loss that undoes them undoes a
   * request that was never answered, and their release's fsync takes them to disk before it is.
   */
  #store(rows: readonly JobRow[]): void {
    if (rows.some((row) => row.state === 'waiting')) this.#insertAll(rows);
    else this.#unsynced(() => this.#insertAll(rows));
  }

  /**
   * A request's held jobs made runnable in one fsync'd transaction, all or none: one that is not
   * held any more fails the release (the request is then refused).
   */
  async release(holdId: string, scanIds: readonly string[]): Promise<void> {
    assertScanId(holdId);
    if (this.#closed) throw new Error('the scan queue is closed');
    this.#releaseAll(scanIds);
    this.#writeUnwrittenWithdrawals();
    for (const consumer of this.#consumers) consumer.wake();
  }

  /**
   * A refused request's held jobs end `refused` and their copies go; an enqueue into its hold,
   * later or still under way, is refused. Not fsync'd: undone by a
   * power loss, they are held at the next open, and refused then. The copies go even when the
   * rows cannot be written (a full disk, as when the release failed on it, where they weigh
   * most): a row left held is never claimed, and is refused once a later write succeeds
   * (`#writeUnwrittenWithdrawals`), or at the next open; the withdrawal then rejects.
   */
  async withdraw(holdId: string, scanIds: readonly string[]): Promise<void> {
    assertScanId(holdId);
    if (this.#closed) return;
    this.#withdrawn.add(holdId);
    const held = scanIds.filter((scanId) => this.#sql.held.get(scanId) !== undefined);
    let failure: unknown;
    try {
      this.#unsynced(() => this.#refuseAllHeld(held));
    } catch (error) {
      failure = error;
      setNewest(this.#unwritten, holdId, held, MAX_UNWRITTEN_WITHDRAWALS);
    }
    let removed = false;
    for (const scanId of held) {
      removed = (await unlinkIfPresent(join(this.#bytesDir, scanId))) || removed;
    }
    if (removed) await syncDir(this.#bytesDir);
    if (failure !== undefined) throw failure;
  }

  /**
   * Ends `refused` the rows of withdrawals a full disk could not write, after a commit, a release
   * or a claim pass that succeeded (a consumer's idle poll makes one at least every second):
   * space may be back. Still failing, they are
   * kept for the next; the caller's own write already succeeded, so this never fails it.
   */
  #writeUnwrittenWithdrawals(): void {
    if (this.#unwritten.size === 0 || this.#closed) return;
    try {
      this.#unsynced(() => this.#refuseAllHeld([...this.#unwritten.values()].flat()));
      this.#unwritten.clear();
    } catch {
      // Still no space: the next successful write tries again.
    }
  }

  /**
   * Held rows are counted apart, and left out of `oldestAgeMs`: they may never run (a request
   * still without its verdict, or refused but its withdrawal not written, a full disk: such a row
   * stays held until a later write succeeds, or the next open), so counted as waiting they would read as a backlog that the
   * workers never drain.
   */
  async depth(): Promise<QueueDepth> {
    const depth: QueueDepth = { waiting: 0, active: 0, held: 0, oldestAgeMs: 0 };
    for (const row of this.#sql.counts.all() as Array<{ state: string; n: number }>) {
      if (row.state === 'waiting') depth.waiting = row.n;
      if (row.state === 'active') depth.active = row.n;
      if (row.state === 'held') depth.held = row.n;
    }
    const oldest = (this.#sql.oldest.get() as { at: number | null }).at;
    if (oldest !== null) depth.oldestAgeMs = Math.max(0, Date.now() - oldest);
    return depth;
  }

  consume(
    handler: (job: ClaimedJob) => Promise<JobResult>,
    options: { concurrency: number },
  ): Consumer {
    if (this.#closed) throw new Error('the scan queue is closed');
    const consumer = new EmbeddedConsumer(this, handler, options.concurrency, () =>
      this.#consumers.delete(consumer),
    );
    this.#consumers.add(consumer);
    consumer.wake();
    return consumer;
  }

  /**
   * The next job due now, marked active; `undefined` when none. Throws when the claim could not be
   * stored (a full disk): `all()`, not `get()`, which returns the RETURNING row at the first step
   * and ignores the commit's failure, handing out a job still waiting (again and again, to every
   * free slot, and its bytes deleted when the first run finished).
   */
  claim(): ClaimedJob | undefined {
    if (this.#closed) return undefined;
    const [row] = this.#unsynced(() => this.#sql.claim.all(Date.now())) as Row[];
    this.#writeUnwrittenWithdrawals();
    if (!row) return undefined;
    this.#failing = false;
    const stored = JSON.parse(row.payload) as StoredJob;
    const path = join(this.#bytesDir, row.scan_id);
    return { ...stored, attempt: row.attempts, bytes: () => readCopy(path) };
  }

  /** Ms until the next waiting job is due (capped), for an idle consumer's sleep. */
  idleMs(): number {
    const at = (this.#sql.nextRun.get() as { at: number | null }).at;
    if (at === null) return IDLE_POLL_MS;
    return Math.min(IDLE_POLL_MS, Math.max(0, at - Date.now()));
  }

  async settle(scanId: string, result: JobResult): Promise<void> {
    if (result.done) {
      this.#sql.finish.run(result.outcome, result.detail ?? null, Date.now(), DONE_PAYLOAD, scanId);
      if (await unlinkIfPresent(join(this.#bytesDir, scanId))) await syncDir(this.#bytesDir);
    } else {
      const runAt = Date.now() + result.retryInMs;
      this.#unsynced(() => this.#sql.retry.run(runAt, result.detail, scanId));
    }
  }

  /**
   * Runs a write that a power loss may undo without harm, committed without waiting for the
   * disk (`synchronous = NORMAL`: in the OS's hands, so a killed process loses nothing; the next
   * fsync'd commit takes it to disk too): a claim or a retry undone leaves the job waiting or
   * active, and an active job waits again at the next open. Inserts and finishes stay fsync'd.
   */
  #unsynced<T>(write: () => T): T {
    // db.pragma() each time: a prepared `PRAGMA synchronous` statement did not take effect on its
    // first run (better-sqlite3 12.11, SQLite 3.53).
    this.#db.pragma('synchronous = NORMAL');
    try {
      return write();
    } finally {
      this.#db.pragma('synchronous = FULL');
    }
  }

  /** The worker hears (stage `queue`) when jobs cannot be claimed or settled, e.g. a full disk. */
  onConnectionError(listener: (error: Error, reason: UnavailableReason) => void): void {
    this.#failureListeners.add(listener);
  }

  /** A claim or settle failed: said once until a claim is stored again. */
  failed(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    const detail = error instanceof Error ? error.message : String(error);
    const reported = new Error(
      `the embedded scan queue could not store a job's state (${detail}): its jobs wait until it can`,
    );
    for (const listener of this.#failureListeners) listener(reported, 'store-failure');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#consumers].map((consumer) => consumer.close()));
    this.#closed = true;
    this.#commit(); // rows waiting for the turn's group commit are stored, not lost
    this.#db.close();
  }
}

/** A job's private copy; one that no longer exists (deleted) is gone for good, not a retry. */
async function readCopy(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new JobBytesGoneError(`its private copy ${path} no longer exists`);
  }
}

class EmbeddedConsumer implements Consumer {
  readonly #queue: EmbeddedQueue;
  readonly #handler: (job: ClaimedJob) => Promise<JobResult>;
  readonly #concurrency: number;
  readonly #onClose: () => void;
  readonly #running = new Set<Promise<void>>();
  /** Aborted at close: ends the wait of a settle that is tried again. */
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    queue: EmbeddedQueue,
    handler: (job: ClaimedJob) => Promise<JobResult>,
    concurrency: number,
    onClose: () => void,
  ) {
    this.#queue = queue;
    this.#handler = handler;
    this.#concurrency = concurrency;
    this.#onClose = onClose;
  }

  /** Claims jobs up to the concurrency, then sleeps until the next one is due. */
  wake(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let pauseMs: number | undefined;
    while (this.#running.size < this.#concurrency) {
      let job: ClaimedJob | undefined;
      try {
        job = this.#queue.claim();
      } catch (error) {
        // Not stored (a full disk): nothing is handed out; asked again after a pause.
        this.#queue.failed(error);
        pauseMs = IDLE_POLL_MS;
        break;
      }
      if (!job) break;
      const run: Promise<void> = this.#run(job)
        .catch((error: unknown) => this.#queue.failed(error))
        .finally(() => {
          this.#running.delete(run);
          this.wake();
        });
      this.#running.add(run);
    }
    if (this.#running.size < this.#concurrency && !this.#stopped) {
      this.#timer = setTimeout(() => this.wake(), pauseMs ?? this.#queue.idleMs());
    }
  }

  async #run(job: ClaimedJob): Promise<void> {
    let result: JobResult;
    try {
      result = await this.#handler(job);
    } catch (error) {
      result = {
        done: false,
        retryInMs: 1_000,
        detail: error instanceof Error ? error.message : String(error),
      };
    }
    await this.#settle(job.scanId, result);
  }

  /**
   * Stores a run's result. One that could not be stored (a full disk) is said once and stored
   * again every second, from memory, until the disk has room: the job keeps its slot and is not
   * run again, so its events (a match, its report) are not sent twice. A close gives up: the job,
   * still active in the file, waits again at the next open and runs again then (at-least-once).
   */
  async #settle(scanId: string, result: JobResult): Promise<void> {
    for (;;) {
      try {
        await this.#queue.settle(scanId, result);
        return;
      } catch (error) {
        this.#queue.failed(error);
      }
      await delay(IDLE_POLL_MS, undefined, { signal: this.#stopping.signal }).catch(
        () => undefined,
      );
      if (this.#stopped) return;
    }
  }

  async close(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#running]);
    this.#onClose();
  }
}
