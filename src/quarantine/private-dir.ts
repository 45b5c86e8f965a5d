/**
 * The store's directory is private to the process's user: created `0700`, and an existing
 * directory with group or other bits is tightened to `0700` (or the store refuses to open); one
 * another user owns is refused.
 */
import { chmod, lstat, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { QuarantineError } from '../errors.js';
import { otherOwner } from '../file-owner.js';
import { syncDir } from './atomic-file.js';

export const DIR_MODE = 0o700;

/**
 * Creates `dir` (and missing parents) `0700`, durably (each new entry's parent fsync'd, so the
 * first incident stored in it cannot vanish with it after a power loss), or makes an existing
 * one `0700`; `onLoose` hears the mode an existing directory had when it was not private.
 */
export async function ensurePrivateDir(
  dir: string,
  onLoose: (mode: number) => void = () => {},
): Promise<void> {
  try {
    const first = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    // `first` is the outermost directory made: every one from it down to `dir` is a new entry.
    for (let made = dir; first !== undefined; made = dirname(made)) {
      await syncDir(dirname(made));
      if (made === first || dirname(made) === made) break;
    }
  } catch (error) {
    throw new QuarantineError(`cannot create the quarantine directory ${dir}`, { cause: error });
  }
  const info = await stat(dir);
  if (!info.isDirectory()) {
    throw new QuarantineError(`the quarantine path ${dir} is not a directory`);
  }
  const uid = process.getuid?.(); // undefined on Windows
  // A symlink in its place is the host's choice only if the host owns it: another user's link
  // (say, planted in /tmp) may be pointed at their own directory once the store is open.
  const link = await lstat(dir);
  if (uid !== undefined && link.isSymbolicLink() && link.uid !== uid && link.uid !== 0) {
    throw new QuarantineError(
      `the quarantine path ${dir} is a symlink owned by uid ${link.uid}, who could point it elsewhere`,
    );
  }
  // Its owner could list, delete or swap the evidence whatever the mode (and may be whoever
  // planted a symlink in its place): only root could write there, so refuse before any chmod.
  const owner = otherOwner(info);
  if (owner !== undefined) {
    throw new QuarantineError(
      `the quarantine directory ${dir} is owned by uid ${owner}, not by this process's user (uid ${uid}); run as its owner`,
    );
  }
  // Windows has no POSIX modes; the directory's ACL is the operator's job there.
  if (process.platform === 'win32') return;
  const mode = info.mode & 0o777;
  if (mode === DIR_MODE) return;
  try {
    await chmod(dir, DIR_MODE);
  } catch (error) {
    throw new QuarantineError(
      `the quarantine directory ${dir} has mode ${mode.toString(8)} and could not be made 700`,
      { cause: error },
    );
  }
  onLoose(mode);
}
