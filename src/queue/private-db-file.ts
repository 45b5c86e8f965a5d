/**
 * The embedded queue's database is private to the process's user, like its directory: it holds
 * what jobs carry until they are done (URLs with their tokens, uploader addresses, file names).
 * `queue.db` is created `0600` before SQLite opens it, whatever the umask (SQLite creates its
 * `-wal`, `-shm` and `-journal` files with the database file's mode); an existing one, or a
 * leftover companion, with group or other bits is made `0600`, and `onLoose` hears of it.
 */
import { constants } from 'node:fs';
import { chmod, open, stat } from 'node:fs/promises';

export const DB_FILE_MODE = 0o600;

const COMPANIONS = ['', '-wal', '-shm', '-journal'];

export async function ensurePrivateDbFile(
  path: string,
  onLoose: (path: string, mode: number) => void,
): Promise<void> {
  try {
    const handle = await open(
      path,
      constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
      DB_FILE_MODE,
    );
    try {
      // The umask narrowed the mode given to open: 0600 exactly, or SQLite could not write.
      if (process.platform !== 'win32') await handle.chmod(DB_FILE_MODE);
    } finally {
      await handle.close();
    }
    return;
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error;
  }
  // Windows has no POSIX modes; the directory's ACL is the operator's job there.
  if (process.platform === 'win32') return;
  for (const suffix of COMPANIONS) {
    const file = `${path}${suffix}`;
    let mode: number;
    try {
      mode = (await stat(file)).mode & 0o777;
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') continue;
      throw error;
    }
    if ((mode & 0o077) === 0) continue;
    await chmod(file, DB_FILE_MODE);
    onLoose(file, mode);
  }
}
