import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readBounded } from '../../src/read-bounded.js';

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
