/**
 * The cross-process lock file: one holder at a time, a crashed holder's lock broken (dead pid,
 * or not refreshed for the stale age when out of sight), a live one waited for however old, one
 * breaker per stale lock, and a bounded wait. Other holders are real processes.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { QuarantineError } from '../../src/errors.js';
import {
  claimPathOf,
  ForeignLockError,
  removeStaleLocks,
  withFileLock,
} from '../../src/quarantine/file-lock.js';
import { useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

const FILE_LOCK = pathToFileURL(
  join(import.meta.dirname, '../../src/quarantine/file-lock.ts'),
).href;

/**
 * A process that takes the lock at argv[1] (`staleMs` argv[2]) and prints "locked"; it releases
 * the lock and exits when its stdin ends.
 */
const HOLDER = `
import { withFileLock } from ${JSON.stringify(FILE_LOCK)};
const [path, staleMs] = process.argv.slice(1);
await withFileLock(path, async () => {
  process.stdout.write('locked\\n');
  await new Promise((resolve) => process.stdin.on('end', resolve).resume());
}, { staleMs: Number(staleMs) });
`;

/**
 * A process that prints "ready", waits for a line on stdin, then takes the lock at argv[1] argv[2]
 * times (`staleMs` 1: under an age rule every lock would be stale at once), each time creating a
 * marker file exclusively, doing some I/O and removing it: it prints "overlap" if the marker was
 * there (another writer inside with it).
 */
const CONTENDER = `
import { open, readFile, unlink } from 'node:fs/promises';
import { withFileLock } from ${JSON.stringify(FILE_LOCK)};
const [path, rounds] = process.argv.slice(1);
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
for (let i = 0; i < Number(rounds); i++) {
  await withFileLock(path, async () => {
    let marker;
    try {
      marker = await open(\`\${path}.inside\`, 'wx');
    } catch {
      process.stdout.write('overlap\\n');
      return;
    }
    await marker.writeFile(String(process.pid));
    await marker.close();
    for (let j = 0; j < 5; j++) await readFile(path);
    await unlink(\`\${path}.inside\`);
  }, { staleMs: 1, timeoutMs: 60_000 });
}
process.stdout.write('done\\n');
`;

function node(script: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, ...args],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
}

/** Resolves once `child` prints the line `line`; rejects if it exits first. */
function lineFrom(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const onExit = (code: number | null) => reject(new Error(`exited (${code}) before "${line}"`));
    const onLine = (text: string) => {
      if (text !== line) return;
      child.off('exit', onExit);
      lines.off('line', onLine); // not close(): that would pause the child's stdout for others
      resolve();
    };
    child.once('exit', onExit);
    lines.on('line', onLine);
  });
}

/** A process holding the lock at `path` (its "locked" line seen). */
async function holder(path: string, staleMs = 30_000): Promise<ChildProcess> {
  const child = node(HOLDER, [path, String(staleMs)]);
  await lineFrom(child, 'locked');
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Makes `path` look untouched for ten minutes. */
async function age(path: string): Promise<void> {
  const old = new Date(Date.now() - 600_000);
  await utimes(path, old, old);
}

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

  it("breaks another host's lock once not refreshed for the stale age", async () => {
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

describe('withFileLock with a signal', () => {
  it("stops waiting for a live holder's lock once the signal aborts: its reason, the task not run", async () => {
    const path = join(await tempDir(), '.lock-x');
    const held = JSON.stringify({ pid: process.pid, host: hostname(), token: 't' });
    await writeFile(path, held);
    const stop = new AbortController();
    let ran = false;
    const started = Date.now();
    const waiting = withFileLock(
      path,
      async () => {
        ran = true;
      },
      { signal: stop.signal, timeoutMs: 20_000 },
    );
    stop.abort();
    // Before: the signal was not heard, and the wait went on to timeoutMs.
    await expect(waiting).rejects.toBe(stop.signal.reason);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(ran).toBe(false);
    expect(await readFile(path, 'utf8')).toBe(held); // the holder's lock left alone
    expect(await readdir(join(path, '..'))).toEqual(['.lock-x']);
  });

  it('does not take a free lock for an aborted signal; one never aborted changes nothing', async () => {
    const path = join(await tempDir(), '.lock-x');
    const stop = new AbortController();
    stop.abort();
    let ran = false;
    const task = async () => {
      ran = true;
      return 'ran';
    };
    await expect(withFileLock(path, task, { signal: stop.signal })).rejects.toBe(
      stop.signal.reason,
    );
    expect(ran).toBe(false);
    expect(await readdir(join(path, '..'))).toEqual([]);
    expect(await withFileLock(path, task, { signal: new AbortController().signal })).toBe('ran');
    expect(existsSync(path)).toBe(false);
  });
});

describe('withFileLock with other processes holding the lock', () => {
  it("never breaks a live holder's lock however old, and breaks it once the holder is killed", async () => {
    const path = join(await tempDir(), '.lock-x');
    const child = await holder(path);
    try {
      const held = await readFile(path, 'utf8');
      await age(path); // a holder inside for ten minutes (a slow disk, a big evidence file)
      await expect(withFileLock(path, async () => 'ran', { timeoutMs: 300 })).rejects.toThrow(
        /timed out waiting for the lock/,
      );
      expect(await readFile(path, 'utf8')).toBe(held);
    } finally {
      await kill(child);
    }
    expect(await withFileLock(path, async () => 'ran')).toBe('ran');
    expect(await readdir(join(path, '..'))).toEqual([]);
  });

  it('lets one breaker at a time break a stale lock: a live claim is left to its breaker', async () => {
    const path = join(await tempDir(), '.lock-x');
    await writeFile(path, JSON.stringify({ pid: deadPid(), host: hostname(), token: 'dead' }));
    // Another breaker (a live process) has claimed the dead holder's lock and is removing it.
    const breaker = node('setInterval(() => {}, 60_000)', []);
    try {
      const claim = claimPathOf(path, 'dead');
      await writeFile(claim, JSON.stringify({ pid: breaker.pid, host: hostname(), token: 'b' }));
      await expect(withFileLock(path, async () => 'ran', { timeoutMs: 300 })).rejects.toThrow(
        /timed out waiting for the lock/,
      );
      expect(existsSync(path)).toBe(true);
    } finally {
      await kill(breaker);
    }
    // That breaker died with its claim: the claim is passed, the lock broken, both cleaned up.
    expect(await withFileLock(path, async () => 'ran')).toBe('ran');
    expect(await readdir(join(path, '..'))).toEqual([]);
  });

  it('keeps one writer at a time among processes that all take every lock for stale', async () => {
    const path = join(await tempDir(), '.lock-x');
    const children = Array.from({ length: 4 }, () => node(CONTENDER, [path, '40']));
    const ready = children.map((child) => lineFrom(child, 'ready'));
    const outputs = Promise.all(
      children.map(
        (child) =>
          new Promise<string>((resolve) => {
            let out = '';
            child.stdout?.on('data', (chunk: Buffer) => {
              out += chunk.toString();
            });
            child.once('close', (code) => resolve(`${out}exit ${code}`));
          }),
      ),
    );
    await Promise.all(ready);
    for (const child of children) child.stdin?.end('go\n');
    expect(await outputs).toEqual(Array(4).fill('ready\ndone\nexit 0'));
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

// Only root can make a file another user owns (chown), as whoever can write beside a shared file
// (an audit log in /tmp) can plant `<path>.lock`.
describe.skipIf(process.getuid?.() !== 0)('a lock file another user owns', () => {
  /** `path` holding `content`, owned by nobody (uid 65534). */
  async function planted(path: string, content: string): Promise<void> {
    await writeFile(path, content, { mode: 0o600 });
    await chown(path, 65534, 65534);
  }

  it('is refused at once, naming it, and never broken: whether it names a live holder, a dead one or nothing', async () => {
    const dir = await tempDir();
    const contents = {
      // Kept fresh by its owner, it was waited for to timeoutMs on every call.
      live: JSON.stringify({ pid: 1, host: hostname(), token: 'planted' }),
      // Before: broken (removed), which in a sticky directory (/tmp) fails with EPERM.
      dead: JSON.stringify({ pid: deadPid(), host: hostname(), token: 'planted' }),
      garbage: 'x',
    };
    for (const [name, content] of Object.entries(contents)) {
      const path = join(dir, `${name}.lock`);
      await planted(path, content);
      if (name !== 'live') await age(path);
      let ran = false;
      const locked = withFileLock(
        path,
        async () => {
          ran = true;
        },
        { timeoutMs: 5_000 },
      );
      await expect(locked, name).rejects.toThrow(
        `the lock file ${path} is owned by uid 65534, not by this process's user (uid 0)`,
      );
      await expect(locked).rejects.toBeInstanceOf(ForeignLockError);
      await expect(locked).rejects.toBeInstanceOf(QuarantineError);
      expect(ran).toBe(false);
      expect(await readFile(path, 'utf8'), name).toBe(content);
    }
    // The sweep leaves them too (a store's list() goes on).
    expect(await removeStaleLocks(dir, '')).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['dead.lock', 'garbage.lock', 'live.lock']);
  });

  it("is refused as a claim on our own stale lock: never waited for as a live breaker's", async () => {
    const path = join(await tempDir(), '.lock-x');
    await writeFile(path, JSON.stringify({ pid: deadPid(), host: hostname(), token: 'dead' }));
    const claim = claimPathOf(path, 'dead');
    await planted(claim, JSON.stringify({ pid: 1, host: hostname(), token: 'planted' }));
    await expect(withFileLock(path, async () => 'ran', { timeoutMs: 5_000 })).rejects.toThrow(
      `the lock file ${claim} is owned by uid 65534`,
    );
    expect(existsSync(path)).toBe(true);
  });
});
