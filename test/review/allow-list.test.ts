/**
 * The PDQ allow-list hook: which record shapes carry a PDQ hash, and appending `pdq <hex>` once.
 */
import { execFileSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { QuarantineRecord } from '../../src/quarantine/types.js';
import { allowRecord, assertAllowListWritable, pdqOf } from '../../src/review/allow-list.js';
import { useTempDirs } from '../quarantine/helpers.js';

const tempDir = useTempDirs();
const HEX = 'ab'.repeat(32);
const record = (extra: object) => ({ id: 'x', ...extra }) as unknown as QuarantineRecord;

describe('pdqOf', () => {
  it('reads the PDQ matcher facts, a hex string or hashes.pdq; nothing else', () => {
    expect(pdqOf(record({ pdq: { hash: HEX, quality: 90 } }))).toBe(HEX);
    expect(pdqOf(record({ pdq: HEX.toUpperCase() }))).toBe(HEX);
    expect(pdqOf(record({ hashes: { pdq: HEX } }))).toBe(HEX);
    expect(pdqOf(record({}))).toBeUndefined();
    expect(pdqOf(record({ pdq: 'not hex' }))).toBeUndefined();
    expect(pdqOf(record({ pdq: { hash: 'ab' } }))).toBeUndefined();
  });
});

describe('allowRecord', () => {
  it('appends pdq <hex> once, after a last line without a newline', async () => {
    const path = join(await tempDir(), 'allow.txt');
    await writeFile(path, `# allow-list\npdq ${'cd'.repeat(32)}`);
    expect(await allowRecord({ path }, record({ pdq: { hash: HEX, quality: 80 } }))).toBe(
      `pdq ${HEX}`,
    );
    expect(await allowRecord({ path }, record({ pdq: HEX }))).toBeUndefined();
    expect(await allowRecord({ path }, record({}))).toBeUndefined();
    expect(await readFile(path, 'utf8')).toBe(`# allow-list\npdq ${'cd'.repeat(32)}\npdq ${HEX}\n`);
  });

  it('a new list is created 0600', async () => {
    const path = join(await tempDir(), 'new-allow.txt');
    expect(await allowRecord({ path }, record({ pdq: HEX }))).toBe(`pdq ${HEX}`);
    expect(await readFile(path, 'utf8')).toBe(`pdq ${HEX}\n`);
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('never writes through a symlink planted at its path, and refuses a FIFO in its place instead of blocking on it', async () => {
    const dir = await tempDir();
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, '# not a list\n');
    const linked = join(dir, 'allow.txt');
    await symlink(victim, linked);
    const dangling = join(dir, 'dangling.txt');
    await symlink(join(dir, 'created-elsewhere'), dangling);
    // Before: the line was appended to victim.txt, and created-elsewhere was made.
    for (const path of [linked, dangling]) {
      await expect(allowRecord({ path }, record({ pdq: HEX }))).rejects.toThrow(
        `the allow-list ${path} is a symbolic link, not written through`,
      );
    }
    expect(await readFile(victim, 'utf8')).toBe('# not a list\n');
    await expect(stat(join(dir, 'created-elsewhere'))).rejects.toThrow(/ENOENT/);
    const fifo = join(dir, 'fifo.txt');
    execFileSync('mkfifo', [fifo]);
    await expect(allowRecord({ path: fifo }, record({ pdq: HEX }))).rejects.toThrow(
      /not a regular file/,
    );
  });

  // Only root can give a file to another user (chown).
  it.skipIf(process.getuid?.() !== 0)(
    'refuses a list another user created first at its path (they could edit it); one of ours is used',
    async () => {
      const path = join(await tempDir(), 'allow.txt');
      await writeFile(path, '# allow-list\n', { mode: 0o666 });
      chownSync(path, 65534, 65534); // nobody, who made it first in a shared directory
      // Before: the line was appended to nobody's file, where nobody could add hashes of their own.
      await expect(assertAllowListWritable({ path })).rejects.toThrow(
        `the allow-list ${path} is owned by uid 65534 (not this process's user, uid 0), who could edit what is written to it`,
      );
      await expect(allowRecord({ path }, record({ pdq: HEX }))).rejects.toThrow(
        /owned by uid 65534/,
      );
      expect(await readFile(path, 'utf8')).toBe('# allow-list\n');
      chownSync(path, 0, 0);
      expect(await allowRecord({ path }, record({ pdq: HEX }))).toBe(`pdq ${HEX}`);
      expect(await readFile(path, 'utf8')).toBe(`# allow-list\npdq ${HEX}\n`);
    },
  );
});
