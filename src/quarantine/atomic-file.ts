/**
 * Crash-safe file writes: a private temp file in the target's directory, fsync'd, renamed into
 * place, then the directory fsync'd. A reader sees the old file or the new one, never a part.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readFlags } from '../read-bounded.js';
import { TEMP_PREFIX } from './names.js';

/** Files are created with this mode; the umask can only narrow it. */
export const FILE_MODE = 0o600;

/** Writes `data` to `dir/name` atomically and durably (file and directory entry on disk). */
export async function writeFileAtomic(
  dir: string,
  name: string,
  data: Uint8Array | string,
): Promise<void> {
  const temp = join(dir, `${TEMP_PREFIX}${randomBytes(12).toString('hex')}`);
  try {
    const handle = await open(temp, 'wx', FILE_MODE);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(dir, name));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDir(dir);
}

/**
 * The bytes of `path` when it is a regular file; undefined for anything else in its place (a
 * FIFO, a device; a symlink too unless `followSymlinks`, for a path the host chose), which the
 * store never writes. Reading such a file with `readFile` could block one of libuv's four file
 * threads for good, and with them all file I/O.
 */
export async function readRegularFile(
  path: string,
  options: { followSymlinks?: boolean } = {},
): Promise<Buffer | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, readFlags(options.followSymlinks === true));
  } catch (error) {
    if ((error as { code?: string }).code === 'ELOOP') return undefined; // a symlink
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory so renames and unlinks in it survive a power loss. */
export async function syncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Windows cannot open or fsync a directory; everywhere else a failure is real.
    if (process.platform !== 'win32') throw error;
  } finally {
    await handle?.close();
  }
}

/** Removes `path`; a file that is already gone is fine. */
export async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Removes temp files older than `maxAgeMs` (left by a crashed or killed writer). Younger ones
 * may belong to a write in progress in another process and are left alone. Returns their names.
 */
export async function removeStaleTemps(
  dir: string,
  maxAgeMs: number,
  now = Date.now(),
  names?: readonly string[],
): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names ?? (await readdir(dir))) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const path = join(dir, name);
    try {
      const info = await stat(path);
      if (now - info.mtimeMs < maxAgeMs) continue;
      if (await unlinkIfPresent(path)) removed.push(name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  if (removed.length > 0) await syncDir(dir);
  return removed;
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
