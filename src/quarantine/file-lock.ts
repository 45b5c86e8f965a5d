/**
 * A lock file shared by every process that uses one store directory (the server, the reviewer
 * CLI, the console): created with `O_EXCL`, so exactly one process holds it; removed when the
 * holder is done. A lock left by a crashed process is broken when its holder (same host) is dead
 * or when it is older than `staleMs`. Critical sections are a read-modify-write of one small
 * file, far shorter than `staleMs`.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { QuarantineError } from '../errors.js';
import { FILE_MODE, isNotFound, readRegularFile } from './atomic-file.js';

/** A lock older than this is a leftover of a crashed holder. */
export const LOCK_STALE_MS = 30_000;
/** How long a caller waits for a lock before giving up. */
export const LOCK_TIMEOUT_MS = 15_000;

export interface FileLockOptions {
  /** Defaults to `LOCK_STALE_MS` (30 s). */
  staleMs?: number;
  /** Defaults to `LOCK_TIMEOUT_MS` (15 s). */
  timeoutMs?: number;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

/** Runs `task` while holding the lock file at `path`. */
export async function withFileLock<T>(
  path: string,
  task: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const token = await acquire(path, options);
  try {
    return await task();
  } finally {
    await release(path, token);
  }
}

/**
 * Removes the locks in `dir` whose name starts with `prefix` and whose holder crashed (dead on
 * this host, or older than `staleMs`). Live locks are left alone. Returns the names removed.
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
    const stale = await staleHolder(path, staleMs);
    if (stale === undefined) continue;
    await breakLock(path, stale);
    removed.push(name);
  }
  return removed;
}

async function acquire(path: string, options: FileLockOptions): Promise<string> {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const deadline = Date.now() + (options.timeoutMs ?? LOCK_TIMEOUT_MS);
  const token = randomBytes(12).toString('hex');
  const holder: Holder = { pid: process.pid, host: hostname(), token };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', FILE_MODE);
      try {
        await handle.writeFile(JSON.stringify(holder));
      } finally {
        await handle.close();
      }
      return token;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const stale = await staleHolder(path, staleMs);
    if (stale !== undefined) {
      await breakLock(path, stale);
      continue;
    }
    if (Date.now() > deadline) {
      throw new QuarantineError(`timed out waiting for the lock ${path}`);
    }
    // Back off with jitter: 1 ms at first, at most ~25 ms between tries.
    await sleep(Math.min(25, 1 + attempt) * (0.5 + Math.random()));
  }
}

/** The stale lock's content (to break exactly that one), or undefined when it is live. */
async function staleHolder(path: string, staleMs: number): Promise<string | undefined> {
  let text: string;
  let age: number;
  try {
    age = Date.now() - (await stat(path)).mtimeMs;
    const bytes = await readRegularFile(path);
    // Not a regular file (a FIFO, a symlink): no lock of ours, so stale, and never opened blocking.
    if (!bytes) return '';
    text = bytes.toString('utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined; // released meanwhile: just try again
    throw error;
  }
  if (age > staleMs) return text;
  const holder = parseHolder(text);
  if (holder && holder.host === hostname() && !isAlive(holder.pid)) return text;
  return undefined;
}

/**
 * Moves the stale lock aside and deletes it. If another process broke it and took a fresh lock
 * in between, the moved file is not the one judged stale: it is put back (link fails only if yet
 * another lock exists, which then stands).
 */
async function breakLock(path: string, staleText: string): Promise<void> {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  const moved =
    (await readRegularFile(aside).catch(() => undefined))?.toString('utf8') ?? staleText;
  if (moved !== staleText) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
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
    if (typeof value.pid === 'number' && typeof value.host === 'string') return value as Holder;
  } catch {
    // Empty (being written) or garbage: judged by age only.
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
