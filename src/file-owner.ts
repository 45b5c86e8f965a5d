/**
 * Whether a file or directory belongs to this process's user. Whoever owns it can edit, swap or
 * delete what it holds, whatever its mode: at a path in a directory others can write to (`/tmp`,
 * a shared volume), that may be whoever created it there first.
 */

/**
 * The uid owning `info` when that is not this process's user; undefined when it is, or where
 * there are no uids (`process.getuid` is missing on Windows).
 */
export function otherOwner(info: { uid: number }): number | undefined {
  const uid = process.getuid?.();
  return uid !== undefined && info.uid !== uid ? info.uid : undefined;
}
