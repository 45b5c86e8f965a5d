/**
 * A bounded read of one local file: at most `max` bytes, whatever size anyone reported or the
 * file reaches while it is read. Used where the path is not the guard's own: a host's storage
 * engine's `file.path` (`scan()`, a parser ahead of the guard) and a backfill's files.
 */
import { constants, type PathLike } from 'node:fs';
import { type FileHandle, open, readlink } from 'node:fs/promises';

/** Non-blocking: a FIFO never waits for a writer (where the OS has the flag). */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Flags to read a file; unless `followSymlinks`, a symlink as the last component fails (ELOOP). */
export function readFlags(followSymlinks: boolean): number {
  return followSymlinks ? READ_FLAGS : READ_FLAGS | (constants.O_NOFOLLOW ?? 0);
}

/** What a bounded read found: the bytes, a file over the bound, or no regular file at all. */
export type BoundedRead =
  | { kind: 'read'; bytes: Buffer }
  | { kind: 'too-large'; detail: string }
  | { kind: 'not-regular' };

const NOT_REGULAR: BoundedRead = { kind: 'not-regular' };

/**
 * How a bounded read is made. `onAllocate`, when given, is told the bytes of each buffer the
 * read is about to allocate (for a buffer grown, what it adds) before it does: it may throw to
 * stop the read there, with nothing more allocated (the guard counts them in its memory budget
 * and refuses the request past it, `BufferedBytes.addRead`).
 */
export interface BoundedReadOptions {
  followSymlinks: boolean;
  /**
   * The real path (`realpath`, as bytes) of a directory being walked: the file opened must lie
   * under it (see `openedWithin`). `O_NOFOLLOW` refuses a symlink only as the last component, so
   * a directory on the path swapped for a symlink after the walk listed it is followed.
   */
  within?: Buffer | undefined;
  onAllocate?: ((bytes: number) => void) | undefined;
}

/**
 * The bytes of the regular file at `path`, at most `max`. Every check is made on one open
 * descriptor (what is read is what was checked, whatever is put at the path meanwhile): a file
 * `fstat` finds larger than `max` is never read, and the read stops one byte past `max`, so a
 * file appended to since (or one whose size says 0, as /proc's) is `too-large` without being
 * read whole. What is not a regular file (a FIFO, a socket, a device such as /dev/zero, a
 * directory) is never read: a FIFO would wait for a writer for good, holding one of libuv's four
 * file threads, and a device has no size to bound the read by. Opening errors are thrown (ELOOP
 * for a symlink not followed, and for a file opened outside `within`).
 */
export async function readBounded(
  path: PathLike,
  max: number,
  options: BoundedReadOptions,
): Promise<BoundedRead> {
  const handle = await open(path, readFlags(options.followSymlinks));
  try {
    if (options.within && !(await openedWithin(handle, options.within))) throw outside();
    const info = await handle.stat();
    if (!info.isFile()) return NOT_REGULAR;
    const { size } = info;
    if (size > max) return { kind: 'too-large', detail: `${size} bytes, limit ${max}` };
    const bytes = await readAtMost(handle, size, max + 1, options.onAllocate);
    if (bytes.length > max) {
      return { kind: 'too-large', detail: `over ${max} bytes (${size} when opened), limit ${max}` };
    }
    return { kind: 'read', bytes };
  } finally {
    await handle.close();
  }
}

/**
 * Where the kernel can name what a descriptor holds (Linux's /proc/self/fd). Elsewhere (macOS,
 * the BSDs) `within` is not checked: matching `fstat` against an `lstat` of each component would
 * be racy too (a symlink swapped in for the open and out again for the checks), at a syscall per
 * component per file, so it would promise what it cannot keep.
 */
const NAMES_DESCRIPTORS = process.platform === 'linux';

/**
 * Whether the file open on `handle` lies under `dir`, by the real path the kernel gives for the
 * descriptor itself (whatever was swapped in or out at the path meanwhile): Node has no `openat`
 * to open a file relative to the walked directory's descriptor, so the check is made after the
 * open, before a byte is read. On Linux a failed readlink (no /proc) is thrown, never taken as a
 * yes: the file is not read.
 */
async function openedWithin(handle: FileHandle, dir: Buffer): Promise<boolean> {
  if (!NAMES_DESCRIPTORS) return true;
  let real: Buffer;
  try {
    real = await readlink(`/proc/self/fd/${handle.fd}`, { encoding: 'buffer' });
  } catch (error) {
    throw new Error(`cannot tell where it was opened (${(error as Error).message}): not read`, {
      cause: error,
    });
  }
  return isUnder(real, dir);
}

/** `path` is `dir` or lies under it, component-wise: `/srv/a` holds `/srv/a/x`, not `/srv/ab`. */
export function isUnder(path: Buffer, dir: Buffer): boolean {
  if (path.equals(dir)) return true;
  const SLASH = 0x2f;
  const prefix = dir.at(-1) === SLASH ? dir : Buffer.concat([dir, Buffer.of(SLASH)]);
  return path.length > prefix.length && path.subarray(0, prefix.length).equals(prefix);
}

/** As the kernel answers a symlink not followed: what is refused the same way reads the same. */
function outside(): NodeJS.ErrnoException {
  return Object.assign(
    new Error(
      'ELOOP: opened outside the walked directory (a directory on its path replaced by a symlink): not read',
    ),
    { code: 'ELOOP' },
  );
}

/**
 * The bytes of an open file up to its end, but never more than `limit`: the size `fstat` gave
 * is where the buffer starts (plus the one byte that tells a file grew), not a bound, since a
 * file being appended to holds more by the time it is read (`readFile` would read it all). The
 * buffers are the file's own memory, never a slice of Node's shared pool (SPEC 4: image-size can
 * read past the end of a pooled slice).
 */
async function readAtMost(
  handle: FileHandle,
  size: number,
  limit: number,
  onAllocate: ((bytes: number) => void) | undefined,
): Promise<Buffer> {
  const first = Math.min(size + 1, limit);
  onAllocate?.(first);
  let buffer = Buffer.allocUnsafeSlow(first);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length === limit) return buffer;
      const next = Math.min(Math.max(length * 2, 64 * 1024), limit);
      onAllocate?.(next - length);
      const grown = Buffer.allocUnsafeSlow(next);
      buffer.copy(grown, 0, 0, length);
      buffer = grown;
    }
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
    if (bytesRead === 0) return buffer.subarray(0, length);
    length += bytesRead;
  }
}
