/**
 * Opening a file that is appended to: the backfill's journal, the reviewers' audit log, the PDQ
 * allow-list. Its path is often in a directory others can write to (`/tmp`, a shared volume), and
 * whoever runs the writer (a reviewer, root) may own files the planter does not.
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { otherOwner } from './file-owner.js';

/**
 * Read and write, appending, created 0600 (the umask can only narrow it); a symlink as the last
 * component fails (ELOOP) where the OS has O_NOFOLLOW.
 */
const APPEND_FLAGS =
  constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);

/**
 * The regular file at `path` (created when missing), open for reading it and appending to it.
 * Never through a symlink planted at the path (appending would write, as this process's user, into
 * the file it points at) and never anything but a regular file (a FIFO would block the write, a
 * device would take it): both are refused with an error naming `label` and saying so, before
 * anything is written. `advice` says what to give instead of a symlink.
 */
export async function openForAppend(
  path: string,
  label: string = path,
  advice = 'give the file itself',
): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, APPEND_FLAGS, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw error;
    throw new Error(`${label} is a symbolic link, not written through: ${advice}`, {
      cause: error,
    });
  }
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${label} is not a regular file`);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * `openForAppend`, and a file another user owns is refused too (POSIX; not where there are no
 * uids), before anything is written: its owner, maybe whoever created it first at a path in a
 * shared directory, could edit what is appended (a reviewers' audit log, an allow-list).
 */
export async function openOwnForAppend(
  path: string,
  label: string = path,
  advice?: string,
): Promise<FileHandle> {
  const handle = await openForAppend(path, label, advice);
  try {
    // The open file's owner: what was opened, never a file a symlink points at.
    const owner = otherOwner(await handle.stat());
    if (owner !== undefined) {
      throw new Error(
        `${label} is owned by uid ${owner} (not this process's user, uid ${process.getuid?.()}), who could edit what is written to it: refused; use a file this user owns, or a path where none exists yet`,
      );
    }
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}
