/**
 * Live lists: a changed file is picked up by the watchers (fs.watch or the stat poll), a broken
 * file keeps the previous list and is reported, and lookups keep answering throughout.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPdqMatcher } from '../../../src/pdq/index.js';
import { until } from '../../helpers/until.js';
import { REFERENCE } from './reference-hashes.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/pdq');
const hashOf = (file: string) => REFERENCE.find((r) => r.file === file)?.dihedral[0] as string;
const dir = mkdtempSync(join(tmpdir(), 'pdq-reload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PDQ list reload', () => {
  it('swaps in a changed list, keeps the old one when the new file is broken', async () => {
    const path = join(dir, 'list.txt');
    writeFileSync(path, `# one hash for now\npdq ${hashOf('scene6.jpg')}\n`);
    const reloads: Array<{ list: string; size: number }> = [];
    const errors: Error[] = [];
    const m = createPdqMatcher({
      lists: { live: path },
      debounceMs: 20,
      pollIntervalMs: 50,
      onReload: (info) => reloads.push(info),
      onError: (error) => errors.push(error),
    });
    try {
      await m.ready;
      const image = readFileSync(join(FIXTURES, 'scene1.png'));
      expect((await m.matchBytes(image)).isMatch).toBe(false);

      // Replaced the way deploy tools do it: write aside, then rename over.
      writeFileSync(`${path}.tmp`, `pdq ${hashOf('scene1.png')}\npdq ${hashOf('scene6.jpg')}\n`);
      renameSync(`${path}.tmp`, path);
      await until(() => reloads.some((r) => r.size === 2), 'the reload of the new list', 10_000);
      expect((await m.matchBytes(image)).matchFlags[0]?.source).toBe('live');
      expect(m.lists()).toEqual([{ name: 'live', size: 2, allowList: false }]);

      writeFileSync(path, `pdq ${hashOf('scene1.png')}\npdq not-a-hash\n`);
      await until(() => errors.length > 0, 'the error for the broken file', 10_000);
      expect(errors[0]?.message).toMatch(/line 2/);
      expect((await m.matchBytes(image)).isMatch).toBe(true);
      expect(m.lists()[0]?.size).toBe(2);
    } finally {
      await m.close();
    }
  });

  it('picks up a list file changed while the lists were first loading', async () => {
    // A list updated as the service starts: the file changes after its first read, while a large
    // list still builds. The change must be read, not missed until the file's next change.
    const path = join(dir, 'changed-at-start.txt');
    writeFileSync(path, `pdq ${hashOf('scene6.jpg')}\n`);
    const large = Array.from({ length: 300_000 }, (_, i) =>
      ((i * 2654435761 + 7) >>> 0).toString(16).padStart(8, '0').repeat(8),
    );
    let changedWhileLoading = false;
    let ready = false;
    const m = createPdqMatcher({
      lists: [
        { name: 'live', path },
        { name: 'large', hashes: large },
      ],
      debounceMs: 20,
      pollIntervalMs: 50,
      onReload: (info) => {
        if (info.list !== 'live' || changedWhileLoading) return;
        changedWhileLoading = !ready;
        writeFileSync(path, `pdq ${hashOf('scene1.png')}\n`);
      },
      pool: false,
    });
    try {
      await m.ready;
      ready = true;
      expect(changedWhileLoading).toBe(true);
      const image = readFileSync(join(FIXTURES, 'scene1.png'));
      await until(
        async () => (await m.matchBytes(image)).isMatch,
        'the list as changed during the first load',
        5_000,
      );
    } finally {
      await m.close();
    }
  });

  it('refuses a list file that holds no hash: at start nothing is checked against it (503), on reload the list in use stays', async () => {
    const path = join(dir, 'empty-later.txt');
    writeFileSync(path, '');
    const errors: Error[] = [];
    const empty = createPdqMatcher({ lists: { ncmec: path }, watch: false });
    try {
      await expect(empty.ready).rejects.toThrow(/holds no hash/);
      const image = readFileSync(join(FIXTURES, 'scene1.png'));
      await expect(empty.matchBytes(image)).rejects.toMatchObject({ code: 'SCAN_UNAVAILABLE' });
    } finally {
      await empty.close();
    }
    writeFileSync(path, `pdq ${hashOf('scene1.png')}\n`);
    const m = createPdqMatcher({
      lists: { ncmec: path },
      watch: false,
      onError: (error) => errors.push(error),
    });
    try {
      await m.ready;
      writeFileSync(path, '# header only, the download failed\n');
      await m.reload('ncmec');
      expect(errors[0]?.message).toMatch(/holds no hash.*stays in use/);
      expect(m.lists()).toEqual([{ name: 'ncmec', size: 1, allowList: false }]);
      const image = readFileSync(join(FIXTURES, 'scene1.png'));
      expect((await m.matchBytes(image)).isMatch).toBe(true);
    } finally {
      await m.close();
    }
  });

  it('answers every lookup made while a large list reloads', async () => {
    const path = join(dir, 'big.txt');
    const filler = (seed: number) =>
      Array.from({ length: 20_000 }, (_, i) =>
        ((i * 2654435761 + seed) >>> 0).toString(16).padStart(8, '0').repeat(8),
      ).join('\n');
    writeFileSync(path, `${filler(1)}\n${hashOf('scene1.png')}\n`);
    const m = createPdqMatcher({ lists: { big: path }, watch: false, pool: false });
    try {
      await m.ready;
      const image = readFileSync(join(FIXTURES, 'scene1.png'));
      writeFileSync(path, `${filler(2)}\n${hashOf('scene1.png')}\n`);
      const reload = m.reload('big');
      const answers = await Promise.all(Array.from({ length: 5 }, () => m.matchBytes(image)));
      await reload;
      expect(answers.every((a) => a.isMatch)).toBe(true);
      expect((await m.matchBytes(image)).isMatch).toBe(true);
    } finally {
      await m.close();
    }
  });
});
