/**
 * A lock file shared by every process that uses one store directory (the server, the reviewer
 * CLI, the console): created with `O_EXCL`, so exactly one process holds it; removed when the
 * holder is done.
 *
 * The lock names its holder: pid, host name and, on Linux, the boot and pid namespace it runs in
 * and the pid's start time. A holder this process can see (same host, boot and pid namespace) is
 * judged by its pid alone: its lock is broken as soon as that pid is gone (or reused), and never
 * while it runs, however long it holds the lock (a slow disk, a big evidence file). A holder out
 * of sight (another host or container) refreshes the lock's mtime while it holds it; its lock is
 * broken once not refreshed for `staleMs` (so its hosts' clocks must agree within that).
 *
 * Breaking is itself exclusive. A breaker first creates a claim file named after the lock it
 * found stale (`O_EXCL`: one claim per stale lock), then checks that the lock is still that one,
 * and only then removes it. A breaker that finds the claim taken leaves the lock alone; a claim
 * whose breaker died is passed by a claim named after it, and so on. So two breakers never both
 * remove a lock, and none removes a lock taken after its check. (Moving the stale lock aside and
 * putting it back when it was not the stale one is not enough: in between, a third process can
 * take the lock, and the one moved aside, held by a live process, is then lost.)
 *
 * A lock (or claim) file another user owns is no lock of ours: every process taking it runs as
 * one user (the files it guards are refused when another owns them). It is refused at once with
 * a `ForeignLockError` naming it, never waited for nor broken: whoever could plant it beside a
 * shared file (an audit log in `/tmp`) could otherwise keep it fresh and block every writer, and
 * in a sticky directory it could not be removed anyway.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { type FileHandle, link, lstat, open, readdir, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { settleBy } from '../core/abortable.js';
import { QuarantineError } from '../errors.js';
import { otherOwner } from '../file-owner.js';
import { FILE_MODE, isNotFound, readRegularFile } from './atomic-file.js';

/** A holder out of sight whose lock has not been refreshed for this long is gone. */
export const LOCK_STALE_MS = 30_000;
/** How long a caller waits for a lock before giving up. */
export const LOCK_TIMEOUT_MS = 15_000;

/** A lock file another user owns, found where this process would take the lock. */
export class ForeignLockError extends QuarantineError {
  constructor(path: string, owner: number) {
    super(
      `the lock file ${path} is owned by uid ${owner}, not by this process's user (uid ${process.getuid?.()}), so it is no lock of ours: refused rather than waited for; remove it if nothing of that user's uses it`,
    );
  }
}

/** A claim on a stale lock is `<lock>.break-<key of the stale lock or of the claim passed>`. */
const CLAIM_INFIX = '.break-';
/** A lock (or claim) being written, before it is linked into place: `<lock>.draft-<random>`. */
const DRAFT_INFIX = '.draft-';

export interface FileLockOptions {
  /** Defaults to `LOCK_STALE_MS` (30 s). */
  staleMs?: number;
  /** Defaults to `LOCK_TIMEOUT_MS` (15 s). */
  timeoutMs?: number;
  /**
   * Ends the wait for the lock: aborted before `task` starts, the call rejects with the signal's
   * reason at once (the lock released if it was just taken) and `task` never runs. Once `task`
   * has started it has no effect.
   */
  signal?: AbortSignal;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
  /** Boot id and pid namespace (Linux): whose pids `pid` can be compared with. */
  scope?: string;
  /** The pid's start time (Linux, clock ticks since boot): tells a reused pid from the holder. */
  start?: string;
  /** In a claim: the key of the stale lock it claims. */
  of?: string;
}

/** What a lock (or claim) file holds, as read once. */
interface Found {
  /** Names this very file: the holder's token, else its inode, mtime and content. */
  key: string;
  stale: boolean;
  /** For a claim: the key of the lock it claims. */
  of?: string;
  /** The uid owning the file when another user does (then never `stale`). */
  owner?: number;
}

/**
 * The claim a breaker takes on the lock (or claim) at `path` holding `token`: part of the
 * protocol between processes, exported for the tests that stage a breaker.
 */
export function claimPathOf(path: string, token: string): string {
  return claimPath(path, tokenKey(token));
}

function claimPath(path: string, key: string): string {
  return `${path}${CLAIM_INFIX}${key}`;
}

function tokenKey(token: string): string {
  return keyOf(`token:${token}`);
}

/** Runs `task` while holding the lock file at `path`. */
export async function withFileLock<T>(
  path: string,
  task: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const held = await acquire(path, staleMs, options.timeoutMs ?? LOCK_TIMEOUT_MS, options.signal);
  // Keeps the lock fresh for holders out of sight (see the module comment).
  const refresh = setInterval(() => {
    const now = new Date();
    held.handle.utimes(now, now).catch(() => undefined);
  }, staleMs / 4);
  refresh.unref();
  try {
    // Aborted while the lock was being taken: given back with `task` not run.
    options.signal?.throwIfAborted();
    return await task();
  } finally {
    clearInterval(refresh);
    await held.handle.close().catch(() => undefined);
    await release(path, held.token);
  }
}

/**
 * Removes the locks in `dir` whose name starts with `prefix` and whose holder is gone (see the
 * module comment), and the claims their breakers left. Live locks are left alone. Returns the
 * names removed.
 */
export async function removeStaleLocks(
  dir: string,
  prefix: string,
  staleMs = LOCK_STALE_MS,
  names?: readonly string[],
): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names ?? (await readdir(dir))) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dir, name);
    if (name.includes(DRAFT_INFIX)) {
      // A lock its writer never linked into place (it died writing it): no one holds it.
      if (await removeOldDraft(path, staleMs)) removed.push(name);
      continue;
    }
    const claimAt = name.indexOf(CLAIM_INFIX);
    if (claimAt !== -1) {
      if (await removeOrphanClaim(path, join(dir, name.slice(0, claimAt)), staleMs)) {
        removed.push(name);
      }
      continue;
    }
    const lock = await inspect(path, staleMs);
    if (lock?.stale && (await breakLock(path, lock, staleMs))) removed.push(name);
  }
  return removed;
}

async function acquire(
  path: string,
  staleMs: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ token: string; handle: FileHandle }> {
  const deadline = Date.now() + timeoutMs;
  const holder = { ...self(), token: newToken() };
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    const handle = await create(path, holder);
    if (handle) return { token: holder.token, handle };
    if (await breakIfStale(path, staleMs)) continue;
    if (Date.now() > deadline) {
      throw new QuarantineError(`timed out waiting for the lock ${path}`);
    }
    // Back off with jitter: 1 ms at first, at most ~25 ms between tries.
    const pause = sleep(Math.min(25, 1 + attempt) * (0.5 + Math.random()));
    await (signal ? settleBy(pause, signal) : pause);
  }
}

/**
 * Creates `path` holding `content` unless it exists (then undefined); the handle stays open.
 * Written whole first, under a name of its own, then linked into place (`link` fails when the
 * path exists, as `O_EXCL` does): a lock is never seen empty. An empty one (its holder stalled
 * between creating and writing it) could only be judged by its age, and broken under a holder
 * still running — two writers at once, seen with a short `staleMs` and both cores busy.
 */
async function create(path: string, content: object): Promise<FileHandle | undefined> {
  const draft = `${path}${DRAFT_INFIX}${randomBytes(8).toString('hex')}`;
  const handle = await open(draft, 'wx', FILE_MODE);
  try {
    await handle.writeFile(JSON.stringify(content));
    await link(draft, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(draft).catch(() => undefined);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
  // The lock is the same file as the draft (one inode): the handle refreshes it.
  await unlink(draft).catch(() => undefined);
  return handle;
}

/** Removes the draft at `path` once older than `staleMs` (a draft being written is younger). */
async function removeOldDraft(path: string, staleMs: number): Promise<boolean> {
  try {
    if (Date.now() - (await lstat(path)).mtimeMs <= staleMs) return false;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
  return unlinkIfThere(path);
}

/** Whether the lock at `path` is gone now: removed here as stale, or released meanwhile. */
async function breakIfStale(path: string, staleMs: number): Promise<boolean> {
  const lock = ours(path, await inspect(path, staleMs));
  if (lock === undefined) return true;
  if (!lock.stale) return false;
  return breakLock(path, lock, staleMs);
}

/**
 * Removes the stale `lock` at `path` if this process wins the claim on it (see the module
 * comment). Returns false when a live breaker holds the claim: the lock may still be there.
 */
async function breakLock(path: string, lock: Found, staleMs: number): Promise<boolean> {
  const passed: string[] = [];
  let claim = claimPath(path, lock.key);
  for (;;) {
    const handle = await create(claim, { ...self(), token: newToken(), of: lock.key });
    if (handle) {
      await handle.close();
      break;
    }
    const other = ours(claim, await inspect(claim, staleMs));
    if (other === undefined) continue; // its breaker finished meanwhile: claim again
    if (!other.stale) return false;
    passed.push(claim);
    claim = claimPath(path, other.key);
  }
  try {
    // The claim is ours, so no one else removes `lock`; its holder is gone, so it stays until we
    // do. Unless it went before we claimed it (another breaker did), and a new lock is there.
    const now = await inspect(path, staleMs);
    if (now?.key === lock.key && now.stale) await unlinkIfThere(path);
    return true;
  } finally {
    for (const name of [claim, ...passed.reverse()]) await unlinkIfThere(name);
  }
}

/**
 * Removes a claim its breaker left (it died) once the lock it claimed is gone: no breaker can
 * act on that lock any more. A claim on a lock still there is left to `breakLock`.
 */
async function removeOrphanClaim(claim: string, path: string, staleMs: number): Promise<boolean> {
  const found = await inspect(claim, staleMs);
  if (!found?.stale) return false;
  const lock = await inspect(path, staleMs);
  if (lock !== undefined && (found.of === undefined || lock.key === found.of)) return false;
  return unlinkIfThere(claim);
}

/** `found`, the lock (or claim) at `path`, unless another user owns it: then refused. */
function ours(path: string, found: Found | undefined): Found | undefined {
  if (found?.owner !== undefined) throw new ForeignLockError(path, found.owner);
  return found;
}

/** The lock (or claim) at `path` as it is now, or undefined when there is none. */
async function inspect(path: string, staleMs: number): Promise<Found | undefined> {
  let text: string;
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(path);
    // Not ours, whatever it holds (the link itself, when a symlink): never judged nor opened.
    const owner = otherOwner(info);
    if (owner !== undefined)
      return { key: keyOf(`file:${info.dev}:${info.ino}`), stale: false, owner };
    // Not a regular file (a FIFO, a symlink): no lock of ours, so stale, and never opened blocking.
    const bytes = await readRegularFile(path);
    text = bytes?.toString('utf8') ?? '';
    if (!bytes) return { key: keyOf(`file:${info.dev}:${info.ino}:${info.mtimeMs}`), stale: true };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const holder = parseHolder(text);
  const unrefreshed = Date.now() - info.mtimeMs > staleMs;
  if (!holder) {
    // Empty or garbage (not ours: ours are linked into place whole): judged by age only.
    return {
      key: keyOf(`file:${info.dev}:${info.ino}:${info.mtimeMs}:${text}`),
      stale: unrefreshed,
    };
  }
  const found: Found = {
    key: tokenKey(holder.token),
    stale: await isGone(holder, unrefreshed),
  };
  if (typeof holder.of === 'string') found.of = holder.of;
  return found;
}

/** Whether `holder` is gone: its pid, when in sight, else the lock's refreshes. */
async function isGone(holder: Holder, unrefreshed: boolean): Promise<boolean> {
  const { host, scope } = self();
  if (holder.host !== host) return unrefreshed;
  if (holder.scope !== undefined && holder.scope !== scope) return unrefreshed;
  if (!(await isRunning(holder))) return true;
  // A running holder in our scope is never broken. One that named no scope (an older version)
  // may be in another container under the same host name: its age is all there is to judge.
  return holder.scope === undefined && scope !== undefined ? unrefreshed : false;
}

async function isRunning(holder: Holder): Promise<boolean> {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (holder.start === undefined) return true;
  const start = await startOf(`/proc/${holder.pid}/stat`);
  return start === undefined || start === holder.start;
}

async function release(path: string, token: string): Promise<void> {
  try {
    const holder = parseHolder((await readRegularFile(path))?.toString('utf8') ?? '');
    if (holder?.token === token) await unlink(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

function parseHolder(text: string): Holder | undefined {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    if (
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.token === 'string'
    ) {
      return value as Holder;
    }
  } catch {
    // Empty (being written) or garbage.
  }
  return undefined;
}

let me: Omit<Holder, 'token'> | undefined;

/** This process as a holder names itself (read once). */
function self(): Omit<Holder, 'token'> {
  if (me) return me;
  me = { pid: process.pid, host: hostname() };
  const boot = readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  const pidNamespace = readOr(() => readlinkSync('/proc/self/ns/pid'));
  if (boot !== undefined && pidNamespace !== undefined) me.scope = `${boot} ${pidNamespace}`;
  const start = readOr(() => startField(readFileSync('/proc/self/stat', 'utf8')));
  if (start !== undefined) me.start = start;
  return me;
}

async function startOf(statPath: string): Promise<string | undefined> {
  try {
    return startField(await readFile(statPath, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat, the start time; fields are counted after the `(comm)` one. */
function startField(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function readOr(read: () => string | undefined): string | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function newToken(): string {
  return randomBytes(12).toString('hex');
}

function keyOf(identity: string): string {
  return createHash('sha256').update(identity).digest('hex').slice(0, 32);
}

async function unlinkIfThere(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
