/**
 * The cross-process lock file: one holder at a time, a crashed holder's lock broken (dead pid,
 * or older than the stale age), a live one waited for, and a bounded wait.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeStaleLocks, withFileLock } from '../../src/quarantine/file-lock.js';
import { useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

/** The pid of a process that has exited (so it is certainly not alive). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('withFileLock', () => {
  it('runs tasks one at a time and removes the lock after each', async () => {
    const path = join(await tempDir(), '.lock-x');
    let inside = 0;
    let most = 0;
    const task = async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((resolve) => setImmediate(resolve));
      inside--;
    };
    await Promise.all(Array.from({ length: 10 }, () => withFileLock(path, task)));
    expect(most).toBe(1);
    expect(existsSync(path)).toBe(false);
  });

  it('releases the lock when the task throws', async () => {
    const path = join(await tempDir(), '.lock-x');
    await expect(withFileLock(path, async () => Promise.reject(new Error('no')))).rejects.toThrow(
      'no',
    );
    expect(existsSync(path)).toBe(false);
  });

  it('breaks the lock of a dead holder on this host', async () => {
    const path = join(await tempDir(), '.lock-x');
    await writeFile(path, JSON.stringify({ pid: deadPid(), host: hostname(), token: 't' }));
    expect(await withFileLock(path, async () => 'ran')).toBe('ran');
  });

  it('breaks a lock older than the stale age, whoever holds it', async () => {
    const path = join(await tempDir(), '.lock-x');
    await writeFile(path, JSON.stringify({ pid: 1, host: 'another-host', token: 't' }));
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);
    expect(await withFileLock(path, async () => 'ran')).toBe('ran');
  });

  it('waits for a live holder, and gives up after timeoutMs', async () => {
    const path = join(await tempDir(), '.lock-x');
    await writeFile(path, JSON.stringify({ pid: process.pid, host: hostname(), token: 't' }));
    await expect(withFileLock(path, async () => 'ran', { timeoutMs: 200 })).rejects.toThrow(
      /timed out waiting for the lock/,
    );
    expect(existsSync(path)).toBe(true); // a live holder's lock is never broken
  });
});

describe('removeStaleLocks', () => {
  it('removes only the locks of dead holders', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, '.lock-dead'),
      JSON.stringify({ pid: deadPid(), host: hostname(), token: 'a' }),
    );
    await writeFile(
      join(dir, '.lock-live'),
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'b' }),
    );
    await writeFile(join(dir, 'other.json'), '{}');
    expect(await removeStaleLocks(dir, '.lock-')).toEqual(['.lock-dead']);
    expect(existsSync(join(dir, '.lock-live'))).toBe(true);
  });
});
