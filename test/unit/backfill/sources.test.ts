import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Entry, type FileEntry, filesOf, readItem } from '../../../src/backfill/sources.js';
import { png } from '../../fixtures/images.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pdg-sources-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('backfill readItem', () => {
  it('reads a regular file whole, up to the limit and not a byte over', async () => {
    const path = join(root, 'a.png');
    const bytes = png(200, 200, 7);
    writeFileSync(path, bytes);
    const file = { path, followSymlinks: false };
    expect(await readItem(file, bytes.length)).toEqual({ bytes });
    const over = await readItem(file, bytes.length - 1);
    expect('invalid' in over && over.invalid.code).toBe('FILE_TOO_LARGE');
  });

  // /proc: Linux.
  it.skipIf(process.platform !== 'linux')(
    'a file holding more than its fstat size said is refused, read no further than the limit',
    async () => {
      // What a file appended to after its size was taken looks like, deterministically: a /proc
      // file is regular and its size says 0, yet it reads kilobytes. readFile read it all.
      const read = await readItem({ path: '/proc/self/maps', followSymlinks: true }, 1024);
      expect('invalid' in read && read.invalid.code).toBe('FILE_TOO_LARGE');
      expect('invalid' in read && read.invalid.detail).toBe(
        'over 1024 bytes (0 when opened), limit 1024',
      );
      // Under the limit it is read to its end, past the size fstat gave.
      const whole = await readItem({ path: '/proc/self/maps', followSymlinks: true }, 1 << 20);
      expect('bytes' in whole && whole.bytes.length).toBeGreaterThan(1024);
    },
  );

  it('a walked file is never read through a symlink (ELOOP); a named one still is', async () => {
    const target = join(root, 'outside.png');
    writeFileSync(target, png(200, 200, 8));
    const link = join(root, 'link.png');
    symlinkSync(target, link);
    const walked = await readItem({ path: link, followSymlinks: false }, 1 << 20);
    expect('error' in walked && walked.error).toMatch(/^ELOOP/);
    const named = await readItem({ path: link, followSymlinks: true }, 1 << 20);
    expect('bytes' in named && named.bytes.length).toBeGreaterThan(0);
  });

  it('a tree named through a symlink is walked and read: its files lie under its real path', async () => {
    const tree = join(root, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeFileSync(join(tree, 'sub', 'a.png'), png(200, 200, 9));
    const named = join(root, 'named-tree');
    symlinkSync(tree, named);
    const entries: Entry[] = [];
    for await (const entry of filesOf([named], undefined)) entries.push(entry);
    expect(entries).toEqual([
      {
        path: join(named, 'sub', 'a.png'),
        followSymlinks: false,
        within: realpathSync(tree, 'buffer'),
      },
    ]);
    const read = await readItem(entries[0] as FileEntry, 1 << 20);
    expect('bytes' in read && read.bytes.length).toBeGreaterThan(0);
  });
});
