/**
 * New directory entries are durable: the store fsyncs the parent of each directory it creates
 * (else, after a power loss, the first incident, whose `put` resolved and whose uploader got an
 * answer, could vanish with its directory), and a new audit log fsyncs its directory. Watched
 * with strace (which `.ci/run` installs) on a child process of the built package.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from './helpers.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/first-put.mjs', import.meta.url));
const tempDir = useTempDirs();
const hasStrace = spawnSync('strace', ['-V']).status === 0;
const MISSING = 'strace not found on PATH (install it, e.g. apt-get install strace)';

/** The directories a child process fsynced, by path (strace -y names each descriptor). */
async function fsyncedDirs(args: string[], trace: string): Promise<string[]> {
  const run = spawnSync(
    'strace',
    ['-f', '-y', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, SCRIPT, ...args],
    { encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  return (await readFile(trace, 'utf8'))
    .split('\n')
    .flatMap((line) => /f(?:data)?sync\(\d+<([^>]+)>\)\s+=\s+0/.exec(line)?.[1] ?? []);
}

const suite = hasStrace || process.env.CI ? describe : describe.skip;
if (!hasStrace && !process.env.CI) console.warn(`[photodna-guard tests] skipped: ${MISSING}`);

suite('durable directory entries (strace)', () => {
  it('the store fsyncs the parents of the directories it creates; a new audit log, its directory', async () => {
    if (!hasStrace) throw new Error(`${MISSING}; .ci/run installs it in CI`);
    const root = await tempDir();
    const dir = join(root, 'made', 'quarantine');
    const log = join(root, 'logs-here', 'audit.log');
    await mkdir(join(root, 'logs-here'));
    const synced = await fsyncedDirs([dir, log], join(root, 'trace.txt'));
    // `quarantine` is an entry of `made`, `made` one of the root: both made durable.
    expect(synced).toContain(join(root, 'made'));
    expect(synced).toContain(root);
    expect(synced).toContain(dir); // its files, after each rename
    expect(synced).toContain(join(root, 'logs-here'));
  });
});
