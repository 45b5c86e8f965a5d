/**
 * `photodna-guard pdq hash|match` as a child process of the built CLI (`npm run build` first).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REFERENCE } from './reference-hashes.js';

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const FIXTURES = join(import.meta.dirname, '../../fixtures/pdq');
const hashOf = (file: string) => REFERENCE.find((r) => r.file === file)?.dihedral[0] as string;
const dir = mkdtempSync(join(tmpdir(), 'pdq-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pdq(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'pdq', ...args],
      { cwd: FIXTURES },
      (error, stdout, stderr) => {
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout,
          stderr,
        });
      },
    );
  });
}

describe('photodna-guard pdq', () => {
  it('hash prints "pdq <hex> <quality> <file>" per file, equal to the reference', async () => {
    const files = ['scene1.png', 'scene3.gif', 'scene4-rgb24.bmp', 'scene5.tiff', 'gradient.png'];
    const { code, stdout, stderr } = await pdq(['hash', ...files]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toEqual(
      files.map((f) => `pdq ${hashOf(f)} ${REFERENCE.find((r) => r.file === f)?.quality} ${f}`),
    );
  });

  it('hash --dihedral prints the eight transforms', async () => {
    const { code, stdout } = await pdq(['hash', '--dihedral', 'scene1.png']);
    expect(code).toBe(0);
    const ref = REFERENCE.find((r) => r.file === 'scene1.png');
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ')[1]),
    ).toEqual(ref?.dihedral);
  });

  it('hash exits 3 and names the file it could not read, after hashing the others', async () => {
    const { code, stdout, stderr } = await pdq(['hash', 'missing.png', 'scene1.png']);
    expect(code).toBe(3);
    expect(stdout).toContain('scene1.png');
    expect(stderr).toMatch(/missing\.png/);
  });

  it('match prints list and distance per matching file and exits 1', async () => {
    const list = join(dir, 'ncmec.txt');
    writeFileSync(list, `# test\npdq ${hashOf('scene1.png')}\n`);
    const csv = join(dir, 'partner.csv');
    writeFileSync(csv, `hash,id\n${hashOf('scene1.png')},7\n`);
    const { code, stdout } = await pdq([
      'match',
      'scene1.jpg',
      'scene6.jpg',
      'gradient.png',
      '--list',
      list,
      '--list',
      `friends=${csv}`,
    ]);
    expect(code).toBe(1);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^match (ncmec|friends) \d+ scene1\.jpg$/);
    expect(lines.filter((l) => l.endsWith('scene1.jpg'))).toHaveLength(2);
    expect(lines).toContain('clean - - scene6.jpg');
    // Every hash is compared by default; a floor the operator sets names what it left out.
    expect(lines).toContain('clean - - gradient.png');
    const floored = await pdq(['match', 'gradient.png', '--list', list, '--min-quality', '50']);
    expect(floored.stdout.trim()).toBe('low-quality 0 - gradient.png');
  });

  it('match exits 0 when nothing matches, and honours --threshold', async () => {
    const list = join(dir, 'one.txt');
    writeFileSync(list, `${hashOf('scene1.png')}\n`);
    const strict = await pdq(['match', 'scene1.jpg', '--list', list, '--threshold', '0']);
    expect(strict).toMatchObject({ code: 0, stdout: 'clean - - scene1.jpg\n' });
  });

  it('exits 2 on a bad list or bad usage', async () => {
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, 'pdq 1234\n');
    expect((await pdq(['match', 'scene1.png', '--list', bad])).code).toBe(2);
    expect((await pdq(['match', 'scene1.png'])).code).toBe(2);
    expect((await pdq(['frobnicate'])).code).toBe(2);
    expect((await pdq(['hash', '--threshold'])).code).toBe(2);
    expect((await pdq(['--help'])).code).toBe(0);
  });
});
