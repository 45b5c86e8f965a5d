import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./open-embedded.ts', import.meta.url));
const UNBUILT = fileURLToPath(new URL('./unbuilt-sqlite.cjs', import.meta.url));

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Opens an embedded queue in a child process, better-sqlite3's native module found or not. */
async function openInChild(unbuilt: boolean): Promise<Record<string, unknown>> {
  dir = await mkdtemp(join(tmpdir(), 'sqlite-unbuilt-'));
  const preload = unbuilt ? ['--require', UNBUILT] : [];
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...preload, '--import', 'tsx', CHILD, join(dir, 'queue')],
    { timeout: 60_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

/**
 * npm 12 skips a dependency's install script unless the project allows it: better-sqlite3 is then
 * installed without its native module. Opening the embedded queue says so and how to fix it, as a
 * configuration failure, not better-sqlite3's list of paths.
 */
it('an embedded queue whose better-sqlite3 was never built fails to open with the fix in its message', async () => {
  const result = await openInChild(true);
  expect(result).toMatchObject({ opened: false, service: true, reason: 'not-configured' });
  expect(result.message).toContain("cannot load better-sqlite3's native module");
  expect(result.message).toContain('npm install-scripts approve better-sqlite3');
  expect(result.cause).toContain('Could not locate the bindings file');
}, 90_000);

it('the same child opens the queue when the native module is there', async () => {
  expect(await openInChild(false)).toEqual({ opened: true });
}, 90_000);
