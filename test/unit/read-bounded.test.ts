import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isUnder, readBounded } from '../../src/read-bounded.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'read-bounded-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readBounded: onAllocate', () => {
  it('is told the buffer a file is read into (its size, and the byte that tells it grew) before the read; of a file over the bound (never read), nothing', async () => {
    const small = join(dir, 'small');
    const large = join(dir, 'large');
    await writeFile(small, Buffer.alloc(1000, 7));
    await writeFile(large, Buffer.alloc(5000));
    const told: number[] = [];
    const options = { followSymlinks: false, onAllocate: (bytes: number) => told.push(bytes) };
    expect((await readBounded(small, 4096, options)).kind).toBe('read');
    expect((await readBounded(large, 4096, options)).kind).toBe('too-large');
    expect(told).toEqual([1001]);
  });

  it('throwing stops the read: its error is the read’s', async () => {
    const path = join(dir, 'f');
    await writeFile(path, Buffer.alloc(1000));
    const refused = new Error('refused');
    await expect(
      readBounded(path, 4096, {
        followSymlinks: false,
        onAllocate: () => {
          throw refused;
        },
      }),
    ).rejects.toBe(refused);
  });
});

describe('readBounded: within', () => {
  const b = (path: string) => Buffer.from(path);

  it('isUnder compares whole components: /srv/a holds itself and /srv/a/x, never /srv/ab', () => {
    expect(isUnder(b('/srv/a/x.png'), b('/srv/a'))).toBe(true);
    expect(isUnder(b('/srv/a'), b('/srv/a'))).toBe(true);
    expect(isUnder(b('/srv/ab/x.png'), b('/srv/a'))).toBe(false);
    expect(isUnder(b('/srv/ab'), b('/srv/a'))).toBe(false);
    expect(isUnder(b('/srv'), b('/srv/a'))).toBe(false);
    expect(isUnder(b('/etc/passwd'), b('/'))).toBe(true);
  });

  // /proc/self/fd: Linux (elsewhere `within` is not checked, see read-bounded.ts).
  it.skipIf(process.platform !== 'linux')(
    'a file opened through a directory swapped for a symlink out of the tree is refused (ELOOP), never read; inside the tree it is read',
    async () => {
      // The walked tree `a`, a sibling `ab` that shares its prefix, and `elsewhere`.
      const tree = join(dir, 'a');
      await mkdir(join(tree, 'sub'), { recursive: true });
      await mkdir(join(dir, 'ab'));
      await mkdir(join(dir, 'elsewhere'));
      for (const folder of [join(tree, 'sub'), join(dir, 'ab'), join(dir, 'elsewhere')])
        await writeFile(join(folder, 'x.png'), Buffer.alloc(100, 1));
      await symlink(join(dir, 'ab'), join(tree, 'to-ab'));
      await symlink(join(dir, 'elsewhere'), join(tree, 'to-elsewhere'));
      await symlink(join(tree, 'sub'), join(tree, 'to-sub'));
      const options = { followSymlinks: false, within: await realpath(tree, 'buffer') };
      expect((await readBounded(join(tree, 'sub', 'x.png'), 4096, options)).kind).toBe('read');
      for (const refused of ['to-ab', 'to-elsewhere']) {
        await expect(
          readBounded(join(tree, refused, 'x.png'), 4096, options),
        ).rejects.toMatchObject({
          code: 'ELOOP',
          message: expect.stringMatching(/^ELOOP: opened outside/),
        });
      }
      // A symlink that stays inside the tree reads what the walk reaches anyway.
      expect((await readBounded(join(tree, 'to-sub', 'x.png'), 4096, options)).kind).toBe('read');
      // Without `within` (a path the operator named) the symlinked directory is followed.
      const named = { followSymlinks: true };
      expect((await readBounded(join(tree, 'to-ab', 'x.png'), 4096, named)).kind).toBe('read');
    },
  );
});
