/**
 * The BullMQ scan queue (`queue: { redis }`): jobs in Redis, any number of worker processes on
 * any number of machines.
 *
 * - Rate: BullMQ's own worker `limiter` is NOT used. It is shared by the workers of one queue
 *   (SPEC section 4), but it counts jobs, not calls (a job's retries would go uncounted) and it
 *   knows nothing of the synchronous guards' calls with the same key. The workers instead call
 *   through `PhotoDnaClient` with `rateLimit.redis` set to the queue's Redis: the same sliding
 *   window (`shared-window.ts`) every guard with that key uses, so guards and workers together
 *   stay under the key's limit.
 * - Bytes: a private copy is kept in Redis under its own key (at most 4 MiB, PhotoDNA's maximum;
 *   Redis strings hold 512 MiB), readable by every worker wherever it runs, deleted when the job
 *   is done; bytes whose job was never added are swept by the workers (`SWEEP_ORPHAN_BYTES`).
 *   Durability is Redis's: run it with `appendonly yes` (and `appendfsync everysec` or
 *   `always`) when a job must survive a Redis crash; protect it like the quarantine store
 *   (`requirepass`/ACL, TLS with `rediss://`). Hosts that keep their own media can enqueue a
 *   `ref` instead and give the workers `load(ref)`.
 * - Exactly once: the job id is the `scanId` (adding it again is a no-op). A worker killed
 *   mid-job loses its lock; after `lockMs` another worker's stalled check puts the job back and
 *   it runs again. Before acting, a run checks the job's done marker (set after its effects,
 *   before BullMQ completes it), so a job finished by a worker that died before completing it is
 *   not acted on twice; a quarantine write is keyed by the job (see `incidentIdOf`).
 * - Withdrawn: an enqueue whose `signal` aborts (the guard's deadline passed, the upload refused
 *   503) may still be stored later (ioredis sends the commands it queued once Redis answers). Its
 *   refusal is sent after them on the same connection (`#refuse`); a worker ends a job whose
 *   refusal it finds as `refused`, unchecked and without an event (`consume`).
 * - Held (`EnqueueOptions.holdId`: one request's files): a hold's jobs are added delayed by
 *   `HOLD_MS`, and its gate key says what became of its request: `held` (expiring `HOLD_MS` after
 *   its last enqueue), `released`, `refused` (withdrawn, for `WITHDRAWN_MS`: a later enqueue of
 *   the request is turned away; each job is marked withdrawn too), or `expired` (found missing by
 *   a worker). `release` turns `held` into `released` and marks each of its jobs (a field of the
 *   job's own hash), in one script, before the guard answers, and promotes the jobs once that is
 *   answered (a withdrawal after a release answered too late reaches Redis first). A worker runs
 *   a held job only when it is marked released, however late it reaches it (the gate expires, or
 *   may be evicted; the job and its mark are kept together); one unmarked whose gate is not
 *   `held` (its request refused, or its guard died before the verdict: either way the host got no
 *   `scanId`, unless Redis lost the release) it ends `refused`, marking a missing gate in the same
 *   script, so a release arriving later fails (its request is then refused 503), and one whose
 *   hold expired (not withdrawn) it reports (`onHoldExpired`); one still `held` (its delay ended
 *   first: another machine's clock) it puts back, to look again within `HELD_RECHECK_MS`. A
 *   released job whose promotion was lost runs when its delay ends: late, never lost.
 * - A done job is kept `keepDoneDays` (so adding its `scanId` again is a no-op) with its id alone
 *   as data: before BullMQ completes it, its data (a URL with its token, the uploader's address,
 *   user agent, file name, metadata) is replaced by `{ scanId }`, and its bytes are deleted.
 */
import { randomUUID } from 'node:crypto';
import type { DelayedError, Job, Queue, Worker } from 'bullmq';
import { notConfiguredError } from '../client/failures.js';
import {
  isRedisUrl,
  REDIS_URL_EXPECTED,
  type RedisClientLike,
} from '../client/redis-connection.js';
import { settleBy } from '../core/abortable.js';
import { ConnectionErrors, type ConnectionListener } from './connection-errors.js';
import { JobBytesGoneError } from './job-bytes-gone.js';
import { keepDoneDaysOf } from './keep-done.js';
import { retryDelayMs, toStoredJob } from './stored-job.js';
import {
  assertScanId,
  type ClaimedJob,
  type Consumer,
  type EnqueueOptions,
  isScanId,
  type JobResult,
  type QueueDepth,
  type QueueEngine,
  type ScanJobInput,
  type StoredJob,
} from './types.js';
import { WITHDRAWN_MS } from './withdrawn-holds.js';

/** The last stack traces a job keeps of its failed attempts (BullMQ's `stackTraceLimit`). */
export const STACK_TRACES_KEPT = 10;

export interface BullmqQueueOptions {
  /** A `redis://` URL, or an ioredis instance (used as is, not closed). */
  redis: string | RedisClientLike;
  /** The BullMQ queue name. Defaults to `'photodna-guard-scan'`. */
  name?: string;
  /**
   * Days a finished job (its id alone) and its done marker are kept: adding its `scanId` again is
   * a no-op meanwhile. Defaults to `7`. Kept in whole seconds, at least one: Redis refuses an
   * expiry of `0`, so a value under half a second would stop every job from completing. At most
   * `3650` (ten years; past Redis's expiry range every job would fail as it completes): more is
   * refused as the queue opens.
   */
  keepDoneDays?: number;
  /**
   * A running job's lock, in ms: a killed worker's job runs again on another worker after about
   * this long. Defaults to `30000`.
   */
  lockMs?: number;
}

/** The ioredis members used here. */
interface IoRedis {
  set(key: string, value: Buffer | string, ...args: Array<string | number>): Promise<unknown>;
  scan(cursor: string, ...args: Array<string | number>): Promise<[string, string[]]>;
  eval(script: string, keys: number, ...args: Array<string | number | Buffer>): Promise<unknown>;
  getBuffer(key: string): Promise<Buffer | null>;
  get(key: string): Promise<string | null>;
  mget(...keys: string[]): Promise<Array<string | null>>;
  del(...keys: string[]): Promise<number>;
  zrem(key: string, ...members: string[]): Promise<number>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

const DAY_S = 86_400;

/**
 * Bytes keys of no job (a process that died between storing an upload's bytes and adding its
 * job; an add refused whose clean-up failed too) are deleted by the workers: when one starts, then
 * every day. A key goes only when, in one script (atomic in Redis), no job of its `scanId` exists
 * and the key has been neither written nor read for a day (`OBJECT IDLETIME`):
 * - A job that exists keeps its bytes however long it waits (a backlog is no orphan). A TTL on
 *   the bytes that the enqueue removes after its add was not chosen for that reason: an enqueuer
 *   dying between the add and the removal would leave a live job whose bytes expire.
 * - An enqueue in flight (bytes stored, job not added yet) stored them less than a day ago, and
 *   one of a `scanId` whose orphan is being swept rewrites them (its idle time starts over), so
 *   neither loses its bytes to a sweep; an add later than a day would end its job as `unchecked`
 *   (fail closed), never scanned without its bytes.
 * A Redis whose `maxmemory-policy` is of the LFU kind keeps no idle time: nothing is swept there.
 */
const SWEEP_ORPHAN_BYTES = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local idle = redis.pcall('OBJECT', 'IDLETIME', KEYS[1])
if type(idle) ~= 'number' or idle < tonumber(ARGV[1]) then return 0 end
return redis.call('DEL', KEYS[1])
`;
const ORPHAN_IDLE_S = DAY_S;

/**
 * An aborted enqueue's refusal (`#refuse`), in one script: records it for the worker (the
 * enqueue's id, kept `keepDoneDays`: its job may still be added after it), deletes the bytes
 * unless they are another enqueue's job's, and says whether the job is this enqueue's (to be
 * removed). KEYS: the refusal, the bytes, the job's hash; ARGV: the enqueue's id, the refusal's
 * lifetime in seconds.
 */
const REFUSE_JOB = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local data = redis.call('HGET', KEYS[3], 'data')
if not data then
  redis.call('DEL', KEYS[2])
  return 0
end
local ok, job = pcall(cjson.decode, data)
if ok and type(job) == 'table' and job.enqueueId == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
`;

/**
 * A hold's gate kept `held` (`EnqueueOptions.holdId`), its time to live renewed, unless its
 * request was settled already (0). The job's bytes are not passed through it: a plain `SET`
 * sent right behind it (`#store`) costs a request less than the script's copies of them. KEYS:
 * the gate; ARGV: `HOLD_MS`.
 */
const HOLD_GATE = `
local fate = redis.call('GET', KEYS[1])
if fate and fate ~= 'held' then return 0 end
redis.call('SET', KEYS[1], 'held', 'PX', ARGV[1])
return 1
`;

/**
 * The field of a job's own hash (BullMQ's, kept as long as the job) that records its release:
 * the hold's id. The gate alone would not do: it expires (`keepDoneDays`, and a worker may first
 * reach the job later than that) and, having a time to live, Redis may evict it
 * (`maxmemory-policy volatile-*`), while the job it speaks for is kept.
 */
const RELEASED_FIELD = 'photodna-guard:released';

/**
 * A hold released, if still held (1): its gate and each of its jobs marked in one script, so a
 * job runs only when this release is recorded on the job itself. 0 when it was withdrawn or
 * expired, or one of its jobs is missing (its jobs are, or will be, refused: all or none).
 * Released already: 1 (ioredis resends a command it got no answer to after a reconnection).
 * KEYS: the gate, the jobs' hashes; ARGV: the gate's lifetime in seconds (`keepDoneDays`), the
 * hold's id.
 */
const RELEASE_GATE = `
local fate = redis.call('GET', KEYS[1])
if fate ~= 'held' and fate ~= 'released' then return 0 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return 0 end
end
redis.call('SET', KEYS[1], 'released', 'EX', ARGV[1])
for i = 2, #KEYS do redis.call('HSET', KEYS[i], '${RELEASED_FIELD}', ARGV[2]) end
return 1
`;

/**
 * The field of a job's own hash that records its hold's withdrawal (`WITHDRAW_HOLD`), kept as
 * long as the job: a worker that finds the gate missing tells a withdrawn hold whose tombstone
 * is gone (kept `WITHDRAWN_MS`, evicted, or refused by Redis out of memory) from one that expired
 * without a verdict, which it reports (`onHoldExpired`).
 */
const WITHDRAWN_FIELD = 'photodna-guard:withdrawn';

/**
 * A hold withdrawn, in one script: its jobs' bytes deleted, the release marks of its jobs (a
 * release whose answer came after the request was refused) removed, each job marked withdrawn
 * (`WITHDRAWN_FIELD`; never a hash created for a job not there), and its gate set `refused` for
 * `WITHDRAWN_MS`, so that a later enqueue of the request is turned away at once (a missing gate
 * would be taken for a new hold, its job stored to wait `HOLD_MS` and end refused). The
 * deletions first, all `DEL` and `HDEL`, which Redis runs even when out of memory; the writes
 * Redis then refuses (`pcall`) leave the gate deleted, as good for a worker (a missing gate is
 * refused). KEYS: the gate, then each job's bytes key and hash; ARGV: `WITHDRAWN_MS`.
 */
const WITHDRAW_HOLD = `
for i = 2, #KEYS, 2 do
  redis.call('DEL', KEYS[i])
  redis.call('HDEL', KEYS[i + 1], '${RELEASED_FIELD}')
end
for i = 3, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.pcall('HSET', KEYS[i], '${WITHDRAWN_FIELD}', 1) end
end
redis.call('DEL', KEYS[1])
redis.pcall('SET', KEYS[1], 'refused', 'PX', ARGV[1])
return 1
`;

/**
 * A held job's fate, read by its worker: `{ 'released' }` when its release is recorded on it
 * (`RELEASED_FIELD`), else `{ 'held', ms to live }` while its gate is held, else `{ 'refused' }`
 * (its hold withdrawn, or released without it), else `{ 'expired' }` (its gate gone, or found
 * gone by a worker before, and the job not marked withdrawn: no verdict ever recorded). A missing
 * gate is set `refused` or `expired` here, in the same script: no release can then succeed for a
 * job a worker saw refused (`HOLD_GATE` and `RELEASE_GATE` refuse both), and the other
 * jobs of an expired hold are found expired too. KEYS: the gate, the job's hash; ARGV: the gate's
 * lifetime in seconds, the hold's id.
 */
const GATE_FATE = `
if redis.call('HGET', KEYS[2], '${RELEASED_FIELD}') == ARGV[2] then return { 'released' } end
local fate = redis.call('GET', KEYS[1])
if fate == 'held' then return { fate, redis.call('PTTL', KEYS[1]) } end
if fate == 'released' or fate == 'refused' then return { 'refused' } end
if redis.call('HEXISTS', KEYS[2], '${WITHDRAWN_FIELD}') == 1 then
  if not fate then redis.call('SET', KEYS[1], 'refused', 'EX', ARGV[1]) end
  return { 'refused' }
end
if not fate then redis.call('SET', KEYS[1], 'expired', 'EX', ARGV[1]) end
return { 'expired' }
`;

/**
 * How long a hold waits for its release after its last enqueue (and a held job's delay): far
 * longer than a guard takes to decide a request (its enqueues, each within `scanTimeoutMs`, its
 * hooks, its disk writes), so only a hold whose guard died before the verdict expires.
 */
export const HOLD_MS = 10 * 60_000;

/**
 * The count of held jobs (`QueueDepth.held`): a sorted set of their `scanId`s, each scored by when
 * its delay ends (Redis's clock), read in one command (`HELD_COUNT`), never job by job. Kept
 * beside the hold scripts, not in them: a job is added as its hold's gate is kept (`HELD_ADD`,
 * sent with it), and removed once its release or withdrawal is answered, when its add is refused,
 * its enqueue withdrawn, or a worker finds its fate. A removal lost (a process dying in between)
 * leaves a member that stops counting when its score passes (`HOLD_MS`, when a worker may claim
 * the job anyway) and is swept by a later `HELD_ADD`: the count may be wrong for that long, the
 * holds never. KEYS: the set; ARGV: `HOLD_MS`, the `scanId`.
 */
const HELD_ADD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
return 1
`;

/** The held jobs whose delay has not ended (`HELD_ADD`), by Redis's clock. KEYS: the set. */
const HELD_COUNT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;

/** Longest wait of a held job a worker found still `held` before it looks again. */
const HELD_RECHECK_MS = 5_000;

/** The result of a job whose enqueue was aborted (`REFUSE_JOB`): never checked, no event. */
const REFUSED: JobResult = { done: true, outcome: 'refused' };

export async function openBullmqQueue(options: BullmqQueueOptions): Promise<QueueEngine> {
  if (typeof options.redis === 'string' && !isRedisUrl(options.redis)) {
    throw new TypeError(`queue.redis: ${REDIS_URL_EXPECTED}`);
  }
  const keepDoneDays = keepDoneDaysOf(options.keepDoneDays);
  const { Queue, Worker, Job, DelayedError, Redis } = await loadBullmq();
  const owned = typeof options.redis === 'string';
  const connection = (
    typeof options.redis === 'string'
      ? new Redis(options.redis, { maxRetriesPerRequest: null })
      : options.redis
  ) as IoRedis;
  const name = options.name ?? 'photodna-guard-scan';
  const queue = new Queue(name, { connection: connection as never });
  const errors = new ConnectionErrors(options.redis);
  queue.on('error', errors.report);
  // Our own connection's failures are reported (throttled), never ioredis's "Unhandled error
  // event" on stderr; a caller's instance keeps its own listeners.
  if (owned) connection.on('error', errors.report);
  return new BullmqQueue({
    errors,
    queue,
    Worker,
    Job,
    DelayedError,
    connection,
    owned,
    name,
    redis: options.redis,
    keepDoneS: Math.max(1, Math.round(keepDoneDays * DAY_S)),
    lockMs: options.lockMs ?? 30_000,
  });
}

interface Parts {
  errors: ConnectionErrors;
  queue: Queue;
  Worker: typeof Worker;
  Job: typeof Job;
  DelayedError: typeof DelayedError;
  connection: IoRedis;
  owned: boolean;
  name: string;
  redis: string | RedisClientLike;
  keepDoneS: number;
  lockMs: number;
}

class BullmqQueue implements QueueEngine {
  readonly engine = 'bullmq' as const;
  readonly #parts: Parts;
  readonly #consumers = new Set<Consumer>();
  /**
   * Writes no caller waits for, on their way to Redis (refusals of aborted enqueues, withdrawn
   * holds, a release's promotions): a close waits for them.
   */
  readonly #inFlight = new Set<Promise<void>>();
  #closed: Promise<void> | undefined;

  constructor(parts: Parts) {
    this.#parts = parts;
  }

  /**
   * The queue's Redis: the worker's default for the shared rate limit. A getter, not a field, so
   * that printing the queue (`console.log(worker)`, `JSON.stringify`) never shows its password.
   */
  get redis(): string | RedisClientLike {
    return this.#parts.redis;
  }

  #key(kind: 'bytes' | 'done' | 'refused' | 'hold', id: string): string {
    return `photodna-guard:scan-${kind}:${this.#parts.name}:${id}`;
  }

  /** The queue's held jobs (`HELD_ADD`). */
  get #heldKey(): string {
    return `photodna-guard:scan-held:${this.#parts.name}`;
  }

  /**
   * Takes jobs out of the held count (`HELD_ADD`), not waited for (a close waits for it); a
   * failure only leaves them counted until their delay ends.
   */
  #unhold(scanIds: readonly string[]): void {
    if (scanIds.length === 0) return;
    const removal: Promise<void> = this.#parts.connection
      .zrem(this.#heldKey, ...scanIds)
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.#inFlight.delete(removal));
    this.#inFlight.add(removal);
  }

  async enqueue(input: ScanJobInput, options: EnqueueOptions = {}): Promise<{ scanId: string }> {
    const { signal, holdId } = options;
    signal?.throwIfAborted();
    if (holdId !== undefined) assertScanId(holdId);
    const stored = toStoredJob(input);
    const job: StoredJob = holdId === undefined ? stored : { ...stored, holdId };
    if (!signal) return this.#redisCall(() => this.#store(job, input.source));
    const withdrawable: StoredJob = { ...job, enqueueId: randomUUID() };
    let settled = false;
    // Runs before `settleBy` rejects (listeners run in order), and never once the store resolved:
    // its continuation runs in the same turn as Redis's answer, before any timer can abort.
    const onAbort = () => {
      if (!settled) this.#refuse(withdrawable);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await settleBy(
        this.#redisCall(() => this.#store(withdrawable, input.source, signal)),
        signal,
      );
    } finally {
      settled = true;
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Stores the bytes, then adds the job. Once `signal` aborts no further command is sent (those
   * sent may still run: `#refuse` is ordered after them).
   */
  async #store(
    job: StoredJob,
    source: ScanJobInput['source'],
    signal?: AbortSignal,
  ): Promise<{ scanId: string }> {
    const { queue, connection, keepDoneS } = this.#parts;
    if (await queue.getJob(job.scanId)) return { scanId: job.scanId };
    const bytesKey = this.#key('bytes', job.scanId);
    const bytes = source.kind === 'bytes' ? Buffer.from(source.bytes) : undefined;
    signal?.throwIfAborted();
    if (job.holdId !== undefined) {
      // Before the add: a worker that meets the job finds its gate (a missing one is refused).
      // The bytes sent right behind the gate, not after its answer: a held enqueue waits on Redis
      // no more often than one without a hold (its bytes, then its add).
      // Both answered before either is judged: a gate that failed (an error reply to its script
      // alone) must not leave behind bytes stored after it, kept until a sweep a day later (never
      // under an LFU `maxmemory-policy`).
      // Counted held (`HELD_ADD`) along with them, at no extra wait; a count that failed is no
      // reason to refuse the upload.
      const [held, stored] = await Promise.allSettled([
        connection.eval(HOLD_GATE, 1, this.#key('hold', job.holdId), HOLD_MS),
        bytes && connection.set(bytesKey, bytes),
        connection.eval(HELD_ADD, 1, this.#heldKey, HOLD_MS, job.scanId).catch(() => undefined),
      ]);
      if (held.status === 'rejected' || held.value !== 1) {
        this.#unhold([job.scanId]);
        if (bytes) await this.#dropBytes(job.scanId);
        if (held.status === 'rejected') throw held.reason;
        throw new Error("the request's jobs were withdrawn or held too long");
      }
      if (stored.status === 'rejected') throw stored.reason;
    } else if (bytes) {
      await connection.set(bytesKey, bytes);
    }
    signal?.throwIfAborted();
    try {
      await queue.add('scan', job, {
        jobId: job.scanId,
        // A job the service could not answer is retried until it can (capped backoff).
        attempts: 1_000_000,
        backoff: { type: 'photodna-guard' },
        removeOnComplete: { age: keepDoneS },
        removeOnFail: false,
        // Each failed attempt keeps its stack in the job: retried through a day-long outage
        // (every 5 minutes at most) that would grow without bound in Redis.
        stackTraceLimit: STACK_TRACES_KEPT,
        // Held: promoted by its release; otherwise claimed when the hold has expired.
        ...(job.holdId === undefined ? {} : { delay: HOLD_MS }),
      });
    } catch (error) {
      // Refused (out of memory, a read-only replica, a permission): no job would ever delete
      // the copy of an upload whose request is refused. Unless the job is there after all.
      // (Aborted: `#refuse` deletes it.)
      if (bytes && !signal?.aborted) await this.#dropBytes(job.scanId);
      if (job.holdId !== undefined && !signal?.aborted) this.#unhold([job.scanId]);
      throw error;
    }
    return { scanId: job.scanId };
  }

  /**
   * Deletes the bytes of a job this enqueue will not add (its hold settled, its add refused),
   * unless a job of that `scanId` exists after all (another enqueue's, whose bytes they are).
   * Plain commands, no script: a permission that refuses BullMQ's add script refuses any other.
   * Never fails: bytes left behind are a worker's sweep's (`SWEEP_ORPHAN_BYTES`).
   */
  async #dropBytes(scanId: string): Promise<void> {
    const { connection, queue } = this.#parts;
    if (await queue.getJob(scanId).catch(() => true)) return;
    await connection.del(this.#key('bytes', scanId)).catch(() => undefined);
  }

  /**
   * Withdraws the job of an aborted enqueue (`EnqueueOptions.signal`). Sent on the connection of
   * the enqueue's commands, so Redis runs it after those sent before the abort (ioredis keeps one
   * connection's order, through a reconnection too): the refusal is recorded, the bytes deleted
   * and the job, if it is this enqueue's and still waiting, removed. A job stored after it anyway
   * (ioredis resends BullMQ's add script after a `NOSCRIPT` answer) or claimed in between is
   * ended by the worker as `refused`, unchecked (`consume`). A failure is reported as the
   * connection's: the job may then run.
   */
  #refuse(job: StoredJob): void {
    const { connection, queue, keepDoneS, errors } = this.#parts;
    const refusal = (async () => {
      const ours = await connection.eval(
        REFUSE_JOB,
        3,
        this.#key('refused', job.scanId),
        this.#key('bytes', job.scanId),
        queue.toKey(job.scanId),
        job.enqueueId as string,
        keepDoneS,
      );
      // Not while a worker holds it (BullMQ refuses): that worker ends it as `refused`.
      if (ours === 1) {
        if (job.holdId !== undefined) this.#unhold([job.scanId]);
        await queue.remove(job.scanId);
      }
    })()
      .catch((error: unknown) => errors.report(error))
      .finally(() => this.#inFlight.delete(refusal));
    this.#inFlight.add(refusal);
  }

  /**
   * Releases a hold (`RELEASE_GATE`: its gate and its jobs): once it resolves its jobs run,
   * whatever becomes of this process. Then promotes them, so they run now rather than when their
   * delay ends; a promotion that fails only delays its job. The promotions are sent once the
   * release is answered, never before, and not waited for (a close waits for them), so the
   * request waits on Redis once. Never before: a caller that stopped waiting for the answer (the
   * guard's `scanTimeoutMs`: the request refused 503) withdraws the hold at once, on this
   * connection, so the withdrawal reaches Redis ahead of any promotion and removes the release's
   * marks while the jobs are still delayed, unclaimable. Promotions sent along with the release
   * let a worker claim a job and find it released before that withdrawal arrived: a refused
   * request's file scanned.
   */
  async release(holdId: string, scanIds: readonly string[]): Promise<void> {
    assertScanId(holdId);
    const { connection, queue, keepDoneS } = this.#parts;
    const keys = [this.#key('hold', holdId), ...scanIds.map((id) => queue.toKey(id))];
    const released = await this.#redisCall(() =>
      connection.eval(RELEASE_GATE, keys.length, ...keys, keepDoneS, holdId),
    );
    if (released !== 1) throw new Error("the request's jobs were withdrawn or held too long");
    this.#unhold(scanIds);
    const promotions: Promise<void> = this.#promote(scanIds).finally(() =>
      this.#inFlight.delete(promotions),
    );
    this.#inFlight.add(promotions);
  }

  /**
   * Withdraws a hold (`WITHDRAW_HOLD`, which Redis runs even when out of memory, as when a request
   * is refused because Redis refused one of its files): no release can succeed and a worker that
   * meets a job of it ends it `refused` (`GATE_FATE`); the jobs are promoted, so that happens now
   * rather than when their delay ends. Jobs of enqueues still on their way are refused likewise.
   * A close waits for it.
   */
  withdraw(holdId: string, scanIds: readonly string[]): Promise<void> {
    assertScanId(holdId);
    const { connection, queue } = this.#parts;
    const keys = [this.#key('hold', holdId)];
    for (const id of scanIds) keys.push(this.#key('bytes', id), queue.toKey(id));
    const withdrawal = this.#redisCall(async () => {
      await connection.eval(WITHDRAW_HOLD, keys.length, ...keys, WITHDRAWN_MS);
      this.#unhold(scanIds);
      await this.#promote(scanIds);
    });
    const tracked: Promise<void> = withdrawal
      .catch(() => undefined)
      .finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
    return withdrawal;
  }

  /**
   * Makes delayed jobs waiting; one that is not delayed (claimed, or gone) is left as it is. Never
   * fails: a job not promoted (its move refused) runs, or is refused, when its delay ends, and its
   * release or withdrawal is recorded on it. By id (a `Job` made here, not read from Redis): the
   * promotion needs nothing else, and a read first would cost the request a wait on Redis.
   */
  async #promote(scanIds: readonly string[]): Promise<void> {
    const { queue, Job } = this.#parts;
    await Promise.all(
      scanIds.map((scanId) =>
        new Job(queue, 'scan', undefined, {}, scanId).promote().catch(() => undefined),
      ),
    );
  }

  /**
   * Runs Redis requests; a failure becomes a new error of its message alone, credentials removed.
   * ioredis's own errors carry the command and its arguments (an `AUTH` after a password change
   * holds the password): they never reach an event, a log or a caller.
   */
  async #redisCall<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.#parts.errors.clean(error);
    }
  }

  depth(): Promise<QueueDepth> {
    return this.#redisCall(() => this.#depth());
  }

  async #depth(): Promise<QueueDepth> {
    const { queue, connection } = this.#parts;
    const [counts, heldCount] = await Promise.all([
      queue.getJobCounts('wait', 'prioritized', 'delayed', 'active'),
      connection.eval(HELD_COUNT, 1, this.#heldKey),
    ]);
    // Held jobs are delayed ones (`HELD_ADD`); at most the delayed are held (a held job a worker
    // holds for a moment, to look at its gate, is counted active).
    const delayed = counts.delayed ?? 0;
    const held = Math.min(Number(heldCount), delayed);
    const waiting = (counts.wait ?? 0) + (counts.prioritized ?? 0) + delayed - held;
    const oldest = await queue.getJobs(['wait', 'delayed', 'active', 'prioritized'], 0, 0, true);
    const at = oldest[0]?.timestamp;
    return {
      waiting,
      active: counts.active ?? 0,
      held,
      oldestAgeMs: at === undefined ? 0 : Math.max(0, Date.now() - at),
    };
  }

  consume(
    handler: (job: ClaimedJob) => Promise<JobResult>,
    options: { concurrency: number; onHoldExpired?: (job: StoredJob) => void },
  ): Consumer {
    const { Worker, connection, name, lockMs, keepDoneS } = this.#parts;
    const worker = new Worker(
      name,
      async (job: Job<StoredJob>, token?: string) => {
        const { scanId, enqueueId, holdId } = job.data;
        const doneKey = this.#key('done', scanId);
        const [finished, refusal] = await connection.mget(doneKey, this.#key('refused', scanId));
        const bytesKey = this.#key('bytes', scanId);
        // Finished by a worker that died before BullMQ recorded it: never acted on twice.
        if (finished != null) {
          await connection.del(bytesKey);
          await forget(job);
          return JSON.parse(finished) as JobResult;
        }
        // Its upload was refused (the enqueue aborted) and Redis stored it anyway: the host keeps
        // no record of its `scanId`, so nothing is checked, stored or said (see README).
        // Held for its request's verdict: run only once released, refused if it never was; one
        // whose hold expired without a verdict is told (the upload may have been accepted).
        let refused = enqueueId !== undefined && refusal === enqueueId;
        if (!refused && holdId !== undefined) {
          const fate = await this.#fate(job, holdId, token);
          if (fate === 'expired') options.onHoldExpired?.(job.data);
          refused = fate !== 'released';
        }
        const result = refused
          ? REFUSED
          : await handler({
              ...job.data,
              attempt: job.attemptsMade + 1,
              bytes: async () => {
                const bytes = await this.#redisCall(() => connection.getBuffer(bytesKey));
                // Deleted, or evicted (a `maxmemory-policy` that evicts any key): gone for good.
                if (!bytes) throw new JobBytesGoneError('its bytes key in Redis is missing');
                return bytes;
              },
            });
        if (!result.done) throw new Error(result.detail);
        await connection.set(doneKey, JSON.stringify(result), 'EX', keepDoneS);
        await connection.del(bytesKey);
        await forget(job);
        return result;
      },
      {
        connection: connection as never,
        concurrency: options.concurrency,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        // A job whose worker died is always put back, however often that happens.
        maxStalledCount: 1_000_000,
        settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade) },
      },
    );
    worker.on('error', this.#parts.errors.report);
    const sweeps = new OrphanSweeps(
      (stopped) => this.#sweepOrphanBytes(stopped),
      this.#parts.errors.report,
    );
    const consumer: Consumer = {
      close: async () => {
        sweeps.close();
        await worker.close();
        this.#consumers.delete(consumer);
      },
    };
    this.#consumers.add(consumer);
    return consumer;
  }

  /**
   * A held job's fate (`GATE_FATE`): `released` (it may run) when its release is recorded on it,
   * however late a worker first reaches it or retries it; else `refused` or `expired`. Still held
   * (its delay ended before its hold: clocks apart), it is put back, to look again within
   * `HELD_RECHECK_MS` (a release meanwhile cannot promote a job this worker holds).
   */
  async #fate(
    job: Job<StoredJob>,
    holdId: string,
    token: string | undefined,
  ): Promise<'released' | 'refused' | 'expired'> {
    const { connection, queue, keepDoneS, DelayedError } = this.#parts;
    const [fate, ttlMs] = (await connection.eval(
      GATE_FATE,
      2,
      this.#key('hold', holdId),
      queue.toKey(job.data.scanId),
      keepDoneS,
      holdId,
    )) as ['released' | 'refused' | 'expired' | 'held', number?];
    if (fate !== 'held') {
      this.#unhold([job.data.scanId]);
      return fate;
    }
    const waitMs = Math.max(1, Math.min(ttlMs ?? HELD_RECHECK_MS, HELD_RECHECK_MS));
    await job.moveToDelayed(Date.now() + waitMs, token);
    throw new DelayedError();
  }

  /**
   * Deletes this queue's bytes keys of no job idle for a day (`SWEEP_ORPHAN_BYTES`), key by key
   * until `stopped()`.
   */
  async #sweepOrphanBytes(stopped: () => boolean): Promise<void> {
    const { connection, queue } = this.#parts;
    const prefix = this.#key('bytes', '');
    const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const [next, keys] = await connection.scan(cursor, 'MATCH', match, 'COUNT', 1_000);
      cursor = next;
      for (const key of keys) {
        if (stopped()) return;
        const scanId = key.slice(prefix.length);
        // A longer queue name's key (`name:more:id`) is that queue's, not an orphan of this one.
        if (!isScanId(scanId)) continue;
        await connection.eval(SWEEP_ORPHAN_BYTES, 2, key, queue.toKey(scanId), ORPHAN_IDLE_S);
      }
    } while (cursor !== '0' && !stopped());
  }

  onConnectionError(listener: ConnectionListener): void {
    this.#parts.errors.listen(listener);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#consumers].map((consumer) => consumer.close()));
      // Sent before the connection quits: an aborted enqueue's job must not run for want of it.
      await Promise.all(this.#inFlight);
      await this.#parts.queue.close();
      if (this.#parts.owned) await this.#parts.connection.quit().catch(() => undefined);
    })();
    return this.#closed;
  }
}

/**
 * A consumer's sweeps of orphan bytes: at start, then daily, one at a time, until it closes. A
 * close does not wait for a sweep under way (its Redis may not answer): the sweep stops at its
 * next key, and a failure after the close (the connection quit) is not reported.
 */
class OrphanSweeps {
  readonly #timer: NodeJS.Timeout;
  #running = false;
  #stopped = false;

  constructor(sweep: (stopped: () => boolean) => Promise<void>, report: (error: unknown) => void) {
    const run = () => {
      if (this.#running) return;
      this.#running = true;
      sweep(() => this.#stopped)
        .catch((error: unknown) => {
          if (!this.#stopped) report(error);
        })
        .finally(() => {
          this.#running = false;
        });
    };
    this.#timer = setInterval(run, ORPHAN_IDLE_S * 1_000).unref();
    run();
  }

  close(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}

/**
 * Replaces a done job's data by its id alone, before BullMQ completes it: the completed job kept
 * `keepDoneDays` holds nothing of the upload. After the done marker, so a run that dies in between
 * runs again, finds the marker, and forgets then.
 */
async function forget(job: Job<StoredJob>): Promise<void> {
  await job.updateData({ scanId: job.data.scanId } as StoredJob);
}

async function loadBullmq(): Promise<{
  Queue: typeof Queue;
  Worker: typeof Worker;
  Job: typeof Job;
  DelayedError: typeof DelayedError;
  Redis: new (url: string, options: Record<string, unknown>) => unknown;
}> {
  try {
    const bullmq = await import('bullmq');
    const ioredis = (await import('ioredis')) as unknown as {
      Redis?: new (url: string, options: Record<string, unknown>) => unknown;
      default?: new (url: string, options: Record<string, unknown>) => unknown;
    };
    const Redis = ioredis.Redis ?? ioredis.default;
    if (!Redis) throw new TypeError('ioredis exports no Redis class');
    return {
      Queue: bullmq.Queue,
      Worker: bullmq.Worker,
      Job: bullmq.Job,
      DelayedError: bullmq.DelayedError,
      Redis,
    };
  } catch (error) {
    throw notConfiguredError(
      "queue.redis needs the optional dependencies 'bullmq' (6.x) and 'ioredis' (5.x): npm install bullmq ioredis",
      error,
    );
  }
}
