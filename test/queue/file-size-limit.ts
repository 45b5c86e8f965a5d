import { execFileSync } from 'node:child_process';

/**
 * A full disk, made on demand: a process's soft file size limit (`prlimit`, Linux) makes every
 * write past it fail (EFBIG) as a full disk does, and lifting it is the disk freed.
 */

/** Whether `prlimit` can change a running process's limits here. */
export function hasPrlimit(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Sets the soft file size limit of process `pid` (the hard one stays, so it can be lifted). */
export function fileSizeLimit(pid: number, soft: number | 'unlimited'): void {
  execFileSync('prlimit', ['--pid', String(pid), `--fsize=${soft}:unlimited`]);
}
