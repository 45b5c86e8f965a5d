import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

/**
 * Points this test process's OS temp directory at a fresh folder and asserts after every test
 * that nothing was left in it (the guard must leave no temp file behind on any path). Polled up
 * to a generous deadline: a request whose uploader left is decided, and its files removed, after
 * the test has its answer; a file that stays fails the test.
 */
export function expectNoTempFiles(): { dir: () => string } {
  let dir = '';
  let previous: string | undefined;
  beforeAll(() => {
    previous = process.env.TMPDIR;
    dir = mkdtempSync(join(tmpdir(), 'pdg-tmp-'));
    process.env.TMPDIR = dir;
  });
  afterEach(async () => {
    await expect
      .poll(() => readdirSync(dir), {
        message: 'files left in the OS temp directory',
        timeout: 10_000,
      })
      .toEqual([]);
  });
  afterAll(() => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir: () => dir };
}
