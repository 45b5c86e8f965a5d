import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator, testImages } from '../../src/emulator/index.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import { startRedisServer } from '../cluster/redis-server.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';
import { startImageHost } from '../queue/image-host.js';

/** Issue 12: `photodna-guard scan` as a child process against the emulator. */

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith('PHOTODNA_')),
);

let emulator: Emulator;
let root: string;
beforeAll(async () => {
  // No limit at the emulator: the CLI's own limiter paces the calls, and a 429 caused by a loaded
  // machine's scheduling would add a retried call to the counts these tests compare.
  emulator = await startEmulator({ rateLimit: false });
  root = mkdtempSync(join(tmpdir(), 'pdg-backfill-'));
});
afterAll(async () => {
  await emulator?.close();
  rmSync(root, { recursive: true, force: true });
});

function spawnScan(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, 'scan', ...args], {
    env: cleanEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Children still running when a test ends (one that hung): killed, not left behind. */
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

function scan(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, 'scan', ...args],
      { env: { ...cleanEnv, ...env } },
      (error, stdout, stderr) => {
        running.delete(child);
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
    running.add(child);
  });
}

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown> & { path: string; outcome: string });

let n = 0;
function folder(): string {
  const dir = join(root, `d${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
let seed = 20_000;
function images(dir: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const path = join(dir, `img-${String(i).padStart(3, '0')}.png`);
    writeFileSync(path, png(200, 200, seed++));
    return path;
  });
}

describe('photodna-guard scan', () => {
  it('one line per file; duplicates cost no call; matches go to the quarantine store', async () => {
    const dir = folder();
    const clean = images(dir, 5);
    mkdirSync(join(dir, 'sub'));
    copyFileSync(clean[0] as string, join(dir, 'sub', 'copy-a.png'));
    copyFileSync(clean[1] as string, join(dir, 'sub', 'copy-b.png'));
    writeFileSync(join(dir, 'known.png'), testImages()[0]?.bytes as Buffer);
    writeFileSync(join(dir, 'tiny.png'), png(20, 20, 3));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    const out = join(folder(), 'results.jsonl');
    const quarantine = join(root, `q${n++}`);
    const key = 'backfill-key-1';
    const result = await scan([
      dir,
      '--out',
      out,
      '--quarantine',
      quarantine,
      '--api-key',
      key,
      '--base-url',
      emulator.url,
    ]);
    expect(result.code).toBe(0);
    const written = lines(out);
    expect(written).toHaveLength(10);
    const by = (name: string) => written.find((l) => l.path.endsWith(name));
    expect(by('known.png')).toMatchObject({ outcome: 'match', quarantineId: expect.any(String) });
    expect(by('tiny.png')).toMatchObject({ outcome: 'invalid', code: 'IMAGE_TOO_SMALL' });
    expect(by('notes.txt')).toMatchObject({ outcome: 'invalid', code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(by('copy-a.png')).toMatchObject({
      outcome: 'clean',
      duplicate: true,
      sha256: by('img-000.png')?.sha256,
    });
    expect(
      written.every((l) => typeof l.sha256 === 'string' && (l.sha256 as string).length === 64),
    ).toBe(true);
    // 5 distinct clean + 1 match: the copies and the invalid files cost nothing.
    expect(emulator.calls.filter((c) => c.key === key)).toHaveLength(6);
    expect(JSON.parse(result.stdout)).toMatchObject({
      done: 10,
      clean: 7,
      match: 1,
      invalid: 2,
      duplicate: 2,
      calls: 6,
      error: 0,
    });
    expect(result.stderr).toMatch(/progress: 10\/10 files/);
    const store = createFileQuarantineStore({ dir: quarantine });
    expect((await store.list()).map((r) => r.id)).toEqual([by('known.png')?.quarantineId]);
    // An existing --out is refused without --resume.
    const again = await scan([dir, '--out', out, '--api-key', key, '--base-url', emulator.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/--resume/);
  });

  it('manifest {"url": ...} lines: downloaded (bounded), deduplicated, matches quarantined', async () => {
    const clean = png(200, 200, 31_337);
    const host = await startImageHost({
      '/known.png': { bytes: testImages()[0]?.bytes as Buffer },
      '/a.png': { bytes: clean },
      '/same-as-a.png': { bytes: clean },
      '/exe': { bytes: Buffer.from('MZ not an image at all'), type: 'application/octet-stream' },
      '/huge': { endless: true },
    });
    try {
      const dir = folder();
      const token = 'X-Amz-Signature=tok3n';
      const urls = ['/known.png', '/a.png', '/same-as-a.png', '/exe', '/huge', '/missing.png'].map(
        (path) => `${host.origin}${path}?${token}`,
      );
      const manifest = join(dir, 'list.jsonl');
      writeFileSync(manifest, `${urls.map((url) => JSON.stringify({ url })).join('\n')}\n`);
      const out = join(dir, 'results.jsonl');
      const quarantine = join(root, `q${n++}`);
      const key = 'backfill-url-key';
      const args = ['--manifest', manifest, '--out', out, '--api-key', key];
      const result = await scan([...args, '--quarantine', quarantine, '--base-url', emulator.url]);
      expect(result.code).toBe(1); // the 404 is an error line, for --resume
      const by = (path: string) =>
        lines(out).find((l) => l.path === `${host.origin}${path}?${token}`);
      expect(by('/known.png')).toMatchObject({
        outcome: 'match',
        quarantineId: expect.any(String),
      });
      // The two identical images are downloaded at once: whichever is validated first is
      // checked, the other is its duplicate (no call), whatever the order they finish in.
      const pair = [by('/a.png'), by('/same-as-a.png')];
      expect(pair.map((line) => line?.outcome)).toEqual(['clean', 'clean']);
      expect(pair.filter((line) => line?.duplicate === true)).toHaveLength(1);
      expect(by('/exe')).toMatchObject({ outcome: 'invalid', code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(by('/huge')).toMatchObject({ outcome: 'invalid', code: 'FILE_TOO_LARGE' });
      expect(by('/missing.png')).toMatchObject({ outcome: 'error' });
      expect(String(by('/missing.png')?.detail)).toMatch(/answered HTTP 404/);
      expect(String(by('/missing.png')?.detail)).not.toContain('tok3n');
      // Bytes calls (the CLI downloads): the known image and one of the two identical ones.
      expect(emulator.calls.filter((c) => c.key === key).map((c) => c.contentType)).toEqual([
        'image/png',
        'image/png',
      ]);
      await until(() => host.written.get('/huge')?.closed === true, 'the huge body abandoned');
      expect(host.written.get('/huge')?.bytes).toBeLessThan(64 * 1024 * 1024);
      const [record] = await createFileQuarantineStore({ dir: quarantine }).list();
      expect(record?.sourceUrl).toBe(`${host.origin}/known.png?[redacted]`);
      expect(JSON.stringify(record)).not.toContain('tok3n');
    } finally {
      await host.close();
    }
  });

  it('--dry-run validates and counts without a call or an output file', async () => {
    const dir = folder();
    images(dir, 3);
    writeFileSync(join(dir, 'tiny.png'), png(20, 20, 3));
    const before = emulator.calls.length;
    const result = await scan([dir, '--dry-run', '--api-key', 'k', '--base-url', emulator.url]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ done: 4, clean: 3, invalid: 1, calls: 0 });
    expect(emulator.calls.length).toBe(before);
  });

  it('reads a manifest of JSON lines and plain paths', async () => {
    const dir = folder();
    const files = images(dir, 3);
    const manifest = join(dir, 'list.jsonl');
    writeFileSync(
      manifest,
      `${JSON.stringify({ path: files[0] })}\nimg-001.png\n\n${JSON.stringify({ path: files[2] })}\n`,
    );
    const out = join(folder(), 'results.jsonl');
    const result = await scan([
      '--manifest',
      manifest,
      '--out',
      out,
      '--api-key',
      'manifest-key',
      '--base-url',
      emulator.url,
    ]);
    expect(result.code).toBe(0);
    expect(
      lines(out)
        .map((l) => l.path)
        .sort(),
    ).toEqual([...files].sort());
  });

  it('kill -9 then --resume: finished files are not called again, a torn last line is cut', async () => {
    const dir = folder();
    const files = images(dir, 25);
    writeFileSync(join(dir, 'dup.png'), readFileSync(files[3] as string));
    const out = join(folder(), 'results.jsonl');
    const key = 'resume-key';
    const calls = () => emulator.calls.filter((c) => c.key === key).length;
    emulator.setLatency(100);
    try {
      const child = spawnScan([dir, '--out', out, '--api-key', key, '--base-url', emulator.url]);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await until(() => {
        try {
          return lines(out).length >= 8;
        } catch {
          return false;
        }
      }, 'eight result lines');
      child.kill('SIGKILL');
      await exited;
      const finished = lines(out);
      const callsBefore = calls();
      // A torn line, as if the process died in the middle of a write.
      appendFileSync(out, '{"path":"/torn","sha2');
      const result = await scan([
        dir,
        '--out',
        out,
        '--resume',
        '--api-key',
        key,
        '--base-url',
        emulator.url,
      ]);
      expect(result.code).toBe(0);
      const all = lines(out);
      expect(all.map((l) => l.path).sort()).toEqual([...files, join(dir, 'dup.png')].sort());
      // Every distinct image was called once in all; the finished ones not again.
      const resumedCalls = calls() - callsBefore;
      const finishedDistinct = new Set(finished.filter((l) => !l.duplicate).map((l) => l.sha256))
        .size;
      expect(resumedCalls).toBe(25 - finishedDistinct);
      expect(JSON.parse(result.stdout)).toMatchObject({ skipped: finished.length, error: 0 });
    } finally {
      emulator.setLatency(0);
    }
  }, 60_000);

  it('a FIFO, a socket or a device in place of a file is an error line: never waited on nor read', async () => {
    const dir = folder();
    const [image] = images(dir, 1);
    const fifo = join(dir, 'fifo.png');
    execFileSync('mkfifo', [fifo]);
    const socket = join(dir, 'socket.png');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    const zero = join(dir, 'zero.png');
    symlinkSync('/dev/zero', zero);
    const manifest = join(dir, 'list.jsonl');
    writeFileSync(manifest, `${[fifo, socket, zero, '/dev/urandom'].join('\n')}\n`);
    const out = join(dir, 'results.jsonl');
    try {
      // Before: the FIFO's open waited for a writer for good, and /dev/zero was read to 2 GiB.
      const args = [image as string, fifo, '--manifest', manifest, '--out', out, '--api-key', 'k'];
      const result = await scan([...args, '--base-url', emulator.url]);
      expect(result.code).toBe(1);
      const by = (path: string) => lines(out).filter((l) => l.path === path);
      expect(by(image as string)).toMatchObject([{ outcome: 'clean' }]);
      expect(by(fifo)).toMatchObject([{ outcome: 'error' }, { outcome: 'error' }]);
      expect(by(socket)).toMatchObject([{ outcome: 'error' }]); // ENXIO: a socket is not opened
      for (const path of [fifo, zero, '/dev/urandom'])
        expect(String(by(path)[0]?.detail)).toMatch(/not a regular file/);
      expect(JSON.parse(result.stdout)).toMatchObject({ clean: 1, error: 5 });
    } finally {
      server.close();
    }
  });

  it('file names that are not UTF-8 are scanned as themselves, never as a look-alike name', async () => {
    const dir = folder();
    const named = (...parts: (string | number)[]) =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from([p]))));
    // What the old walk read in their place: the same name with U+FFFD for the bad byte.
    writeFileSync(join(dir, 'a\ufffd.png'), png(200, 200, seed++));
    writeFileSync(named(dir, '/a', 0xff, '.png'), testImages()[0]?.bytes as Buffer);
    writeFileSync(named(dir, '/a', 0xfe, '.png'), png(200, 200, seed++));
    mkdirSync(named(dir, '/d', 0xe9));
    writeFileSync(named(dir, '/d', 0xe9, '/\u00e9', 0xc3, '.png'), png(200, 200, seed++));
    const out = join(folder(), 'results.jsonl');
    const quarantine = join(root, `q${n++}`);
    const key = 'non-utf8-key';
    const args = [dir, '--out', out, '--api-key', key, '--base-url', emulator.url];
    const result = await scan([...args, '--quarantine', quarantine]);
    expect(result.code).toBe(0);
    const outcomes = Object.fromEntries(lines(out).map((l) => [l.path, l.outcome]));
    // Python's os.fsdecode spelling: each byte that is not UTF-8 as U+DC80-U+DCFF.
    expect(outcomes).toEqual({
      [join(dir, 'a\ufffd.png')]: 'clean',
      [join(dir, 'a\udcff.png')]: 'match',
      [join(dir, 'a\udcfe.png')]: 'clean',
      [join(dir, 'd\udce9', '\u00e9\udcc3.png')]: 'clean',
    });
    expect(emulator.calls.filter((c) => c.key === key)).toHaveLength(4);
    // --resume tells them apart too: nothing left, nothing skipped twice.
    const resumed = await scan([...args, '--resume']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ skipped: 4, done: 0 });
  });

  it('a hostile file name in a match cannot forge or hide lines of `quarantine list`', async () => {
    const dir = folder();
    const [red, blue] = testImages();
    // A newline then a forged row; a terminal escape that erases the row it is printed on.
    const forged = 'a\nffffffff-0000-0000-0000-000000000000  2020-01-01  POST forged.png';
    writeFileSync(join(dir, forged), red?.bytes as Buffer);
    writeFileSync(join(dir, 'b\r\x1b[2K\x9b2K\u2028.png'), blue?.bytes as Buffer);
    const quarantine = join(root, `q${n++}`);
    const out = join(folder(), 'results.jsonl');
    const args = [dir, '--out', out, '--quarantine', quarantine, '--api-key', 'k'];
    expect((await scan([...args, '--base-url', emulator.url])).code).toBe(0);
    const listed = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', MAIN, 'quarantine', 'list', '--dir', quarantine],
        { env: cleanEnv },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      ),
    );
    const rows = listed.split('\n').filter(Boolean);
    expect(rows).toHaveLength(3); // the header and the two incidents
    for (const control of ['\r', '\x1b', '\x9b', '\u2028']) expect(listed).not.toContain(control);
    expect(listed).toContain('backfill:');
    expect(listed).toContain(String.raw`a\u000affffffff`); // shown, escaped
  });

  it('a plain-path manifest line is the path as written: "x.png " is not read as "x.png"', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'x.png'), png(200, 200, seed++));
    writeFileSync(join(dir, 'x.png '), testImages()[0]?.bytes as Buffer);
    writeFileSync(join(dir, ' x.png'), png(200, 200, seed++));
    const manifest = join(dir, 'list.txt');
    writeFileSync(manifest, `${join(dir, 'x.png')}\n${join(dir, 'x.png ')}\r\n ${'x.png'}\n`);
    const out = join(folder(), 'results.jsonl');
    const args = ['--manifest', manifest, '--out', out, '--api-key', 'k'];
    expect((await scan([...args, '--base-url', emulator.url])).code).toBe(0);
    expect(Object.fromEntries(lines(out).map((l) => [l.path, l.outcome]))).toEqual({
      [join(dir, 'x.png')]: 'clean',
      [join(dir, 'x.png ')]: 'match',
      [join(dir, ' x.png')]: 'clean',
    });
  });

  it('a stored file named like a JSON manifest line is scanned as itself too', async () => {
    // The uploader chose the name: listed in a plain manifest, the line reads as an entry for
    // benign.png, and the file itself was never read.
    const dir = folder();
    writeFileSync(join(dir, 'benign.png'), png(200, 200, seed++));
    const spelled = '{"path":"benign.png"}';
    writeFileSync(join(dir, spelled), testImages()[0]?.bytes as Buffer);
    const broken = '{not json.png';
    writeFileSync(join(dir, broken), png(200, 200, seed++));
    const manifest = join(dir, 'list.txt');
    writeFileSync(manifest, `${spelled}\n${broken}\n`);
    const out = join(folder(), 'results.jsonl');
    const args = ['--manifest', manifest, '--out', out, '--api-key', 'k'];
    expect((await scan([...args, '--base-url', emulator.url])).code).toBe(0);
    expect(Object.fromEntries(lines(out).map((l) => [l.path, l.outcome]))).toEqual({
      [join(dir, 'benign.png')]: 'clean',
      [join(dir, spelled)]: 'match',
      [join(dir, broken)]: 'clean',
    });
  });

  it('a directory deleted after it was listed is an error line; the run goes on', async () => {
    const dir = folder();
    const [first] = images(dir, 1);
    mkdirSync(join(dir, 'album'));
    images(join(dir, 'album'), 1);
    mkdirSync(join(dir, 'later'));
    const [after] = images(join(dir, 'later'), 1);
    const out = join(folder(), 'results.jsonl');
    const key = 'vanished-dir-key';
    emulator.setLatency(1_000);
    try {
      const args = [dir, '--out', out, '--concurrency', '1', '--api-key', key];
      const scanning = scan([...args, '--base-url', emulator.url]);
      // The first file is in hand: `album` is listed, not yet walked. Its owner deletes it.
      await until(() => emulator.calls.some((c) => c.key === key), 'the first call');
      rmSync(join(dir, 'album'), { recursive: true });
      const result = await scanning;
      expect(result.code).toBe(1);
      expect(lines(out).map((l) => [l.path, l.outcome])).toEqual([
        [first, 'clean'],
        [join(dir, 'album'), 'error'],
        [after, 'clean'],
      ]);
      expect(JSON.parse(result.stdout)).toMatchObject({ clean: 2, error: 1 });
    } finally {
      emulator.setLatency(0);
    }
  });

  it('a walked file swapped for a symlink during the run is not followed: ELOOP, an error line', async () => {
    const dir = folder();
    const files = images(dir, 2);
    // Outside the tree, and known: read through the symlink, it was a match (and quarantined).
    const outside = join(folder(), 'outside.png');
    writeFileSync(outside, testImages()[0]?.bytes as Buffer);
    const out = join(folder(), 'results.jsonl');
    const key = 'swapped-file-key';
    emulator.setLatency(1_000);
    try {
      const args = [dir, '--out', out, '--concurrency', '1', '--api-key', key];
      const scanning = scan([...args, '--base-url', emulator.url]);
      // One file is in hand (read, being checked); the walk listed both as regular files. Both
      // are swapped for a symlink: the one in hand was read already, the other is opened next.
      await until(() => emulator.calls.some((c) => c.key === key), 'the first call');
      for (const file of files) {
        rmSync(file);
        symlinkSync(outside, file);
      }
      const result = await scanning;
      const written = lines(out);
      expect(written.map((l) => l.outcome).sort()).toEqual(['clean', 'error']);
      expect(result.code).toBe(1);
      expect(String(written.find((l) => l.outcome === 'error')?.detail)).toMatch(/^ELOOP/);
      expect(emulator.calls.filter((c) => c.key === key)).toHaveLength(1);
    } finally {
      emulator.setLatency(0);
    }
  });

  // /proc/self/fd: Linux (elsewhere the swapped directory is followed: README "Backfill").
  it.skipIf(process.platform !== 'linux')(
    'a walked directory swapped for a symlink out of the tree during the run is not followed: ELOOP, an error line',
    async () => {
      const dir = folder();
      const sub = join(dir, 'sub');
      mkdirSync(sub);
      images(sub, 2);
      // Another tenant's directory, out of the tree: the same names, each a known image.
      const outside = folder();
      for (const name of ['img-000.png', 'img-001.png'])
        writeFileSync(join(outside, name), testImages()[0]?.bytes as Buffer);
      const out = join(folder(), 'results.jsonl');
      const key = 'swapped-dir-key';
      emulator.setLatency(1_000);
      try {
        const args = [dir, '--out', out, '--concurrency', '1', '--api-key', key];
        const scanning = scan([...args, '--base-url', emulator.url]);
        // One file of `sub` is in hand (read, being checked); the walk listed both. `sub` is moved
        // away and a symlink to `outside` put in its place: the other file is opened next.
        await until(() => emulator.calls.some((c) => c.key === key), 'the first call');
        renameSync(sub, join(folder(), 'moved'));
        symlinkSync(outside, sub);
        const result = await scanning;
        const written = lines(out);
        expect(written.map((l) => l.outcome).sort()).toEqual(['clean', 'error']);
        expect(result.code).toBe(1);
        expect(String(written.find((l) => l.outcome === 'error')?.detail)).toMatch(
          /^ELOOP: opened outside/,
        );
        // Read through the symlink, the other tenant's file was sent (and a match): never sent.
        expect(emulator.calls.filter((c) => c.key === key)).toHaveLength(1);
      } finally {
        emulator.setLatency(0);
      }
    },
  );

  it('symlinks, FIFOs, sockets and devices in a walked tree are counted as skipped, by reason, never read', async () => {
    const dir = folder();
    const [image] = images(dir, 1);
    const elsewhere = folder();
    writeFileSync(join(elsewhere, 'known.png'), testImages()[0]?.bytes as Buffer);
    mkdirSync(join(dir, 'sub'));
    symlinkSync(join(elsewhere, 'known.png'), join(dir, 'sub', 'link.png'));
    symlinkSync(elsewhere, join(dir, 'album')); // a directory's symlink: not walked either
    execFileSync('mkfifo', [join(dir, 'sub', 'fifo.png')]);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'socket.png'), resolve));
    // A device node needs CAP_MKNOD (root): counted where the machine lets the test make one.
    let devices = 0;
    try {
      execFileSync('mknod', [join(dir, 'null.png'), 'c', '1', '3'], { stdio: 'ignore' });
      devices = 1;
    } catch {
      // not permitted here
    }
    const out = join(folder(), 'results.jsonl');
    const args = [dir, '--out', out, '--api-key', 'k', '--base-url', emulator.url];
    try {
      // Before: not a line, not a count; the summary read as if the whole tree was covered.
      const result = await scan(args);
      expect(result.code).toBe(0);
      expect(lines(out).map((l) => [l.path, l.outcome])).toEqual([[image, 'clean']]);
      const unread = { symlink: 2, fifo: 1, socket: 1, device: devices, other: 0 };
      expect(JSON.parse(result.stdout)).toMatchObject({
        done: 1,
        skipped: 4 + devices,
        skippedBy: { finished: 0, ...unread },
      });
      const reasons = `symlink 2, fifo 1, socket 1${devices ? ', device 1' : ''}`;
      expect(result.stderr).toContain(`skipped ${4 + devices} (${reasons})\n`);
      // --resume: the finished file apart from what was never read.
      const resumed = await scan([...args, '--resume']);
      expect(JSON.parse(resumed.stdout)).toMatchObject({
        done: 0,
        skipped: 5 + devices,
        skippedBy: { finished: 1, ...unread },
      });
    } finally {
      server.close();
    }
  });

  it('--resume refuses a file that is not a results journal and leaves it as it is', async () => {
    const dir = folder();
    const [image] = images(dir, 1);
    const args = [image as string, '--resume', '--api-key', 'k', '--base-url', emulator.url];
    const journal = `${JSON.stringify({ path: '/a.png', outcome: 'clean' })}\n`;
    // A mistyped --out: notes, a manifest, one line without a newline, a journal with a bad line.
    const files = {
      'notes.txt': 'line one\nline two\n',
      'list.jsonl': '{"path": "/srv/a.png"}\n{"path": "/srv/b.png"}\n',
      'one-line.txt': 'no newline at the end',
      'edited.jsonl': `${journal}not json\n${journal}`,
    };
    for (const [name, text] of Object.entries(files)) {
      const out = join(dir, name);
      writeFileSync(out, text);
      // Before: cut to its first bad line (0 bytes), then appended to.
      const result = await scan([...args, '--out', out]);
      expect(result.code, name).toBe(1);
      expect(result.stderr, name).toMatch(/not a scan result: not a results journal\?/);
      expect(readFileSync(out, 'utf8'), name).toBe(text);
    }
  });

  it('--out is never followed through a symlink planted at its path', async () => {
    const dir = folder();
    const [image] = images(dir, 1);
    const args = [image as string, '--api-key', 'k', '--base-url', emulator.url];
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const link = join(dir, 'results.jsonl');
    symlinkSync(victim, link);
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    const toEmpty = join(dir, 'to-empty.jsonl');
    symlinkSync(empty, toEmpty);
    const dangling = join(dir, 'dangling.jsonl');
    symlinkSync(join(dir, 'created-elsewhere'), dangling);
    // Before: --resume cut the victim to 0 bytes; the others were written through the link.
    for (const [out, more] of [
      [link, ['--resume']],
      [toEmpty, []],
      [dangling, []],
    ] as const) {
      const result = await scan([...args, ...more, '--out', out]);
      expect(result.code, out).toBe(1);
      expect(result.stderr, out).toContain(`${out} is a symbolic link`);
    }
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(empty, 'utf8')).toBe('');
    expect(existsSync(join(dir, 'created-elsewhere'))).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)(
    '--resume refuses a journal another user owns and leaves it as it is',
    async () => {
      const dir = folder();
      const [image] = images(dir, 1);
      const out = join(dir, 'results.jsonl');
      // Whoever created it first in a shared directory could mark files done for --resume.
      const planted = `${JSON.stringify({ path: image, outcome: 'clean' })}\n`;
      writeFileSync(out, planted);
      chownSync(out, 65534, 65534);
      const args = [image as string, '--resume', '--api-key', 'k', '--base-url', emulator.url];
      const result = await scan([...args, '--out', out]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('is owned by uid 65534');
      expect(readFileSync(out, 'utf8')).toBe(planted);
    },
  );

  it.runIf(process.getuid?.() === 0)(
    "refuses a lock another user planted beside the journal, naming it (not 'another scan')",
    async () => {
      const dir = folder();
      const [image] = images(dir, 1);
      const out = join(dir, 'results.jsonl');
      const lock = `${out}.lock`;
      writeFileSync(lock, JSON.stringify({ pid: 1, host: hostname(), token: 'planted' }));
      chownSync(lock, 65534, 65534);
      const args = [image as string, '--api-key', 'k', '--base-url', emulator.url];
      const result = await scan([...args, '--out', out]);
      expect(result.code).toBe(1);
      // Before: "is being written by another scan", which no other scan was.
      expect(result.stderr).toContain(`the lock file ${lock} is owned by uid 65534`);
      expect(existsSync(out)).toBe(false);
    },
  );

  it('a second scan on the same --out is refused while the first runs; the first is unharmed', async () => {
    const dir = folder();
    const files = images(dir, 12);
    const out = join(folder(), 'results.jsonl');
    const key = 'two-runs-key';
    // One call a second: the first run lasts ~11 s after its first line, long past the second
    // process's start on a loaded machine (at the default rate it could end before it).
    const args = [dir, '--out', out, '--api-key', key, '--base-url', emulator.url, '--rate', '1'];
    emulator.setLatency(100);
    try {
      const first = spawnScan(args);
      running.add(first);
      const firstExit = new Promise<number | null>((resolve) => first.once('exit', resolve));
      await until(() => existsSync(out) && readFileSync(out, 'utf8').includes('\n'), 'a line');
      // Before: both appended to it, each calling for the files the other had not finished.
      const second = await scan([...args, '--resume']);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`${out} is being written by another scan`);
      expect(await firstExit).toBe(0);
      expect(
        lines(out)
          .map((l) => l.path)
          .sort(),
      ).toEqual([...files].sort());
      expect(emulator.calls.filter((c) => c.key === key)).toHaveLength(12);
      expect(existsSync(`${out}.lock`)).toBe(false);
    } finally {
      emulator.setLatency(0);
    }
  }, 60_000);

  it('SIGTERM stops it like SIGINT: files in hand written, summary printed, exit 143', async () => {
    const dir = folder();
    const files = images(dir, 12);
    const out = join(folder(), 'results.jsonl');
    const key = 'sigterm-key';
    const args = [dir, '--out', out, '--api-key', key, '--base-url', emulator.url, '--rate', '2'];
    emulator.setLatency(100);
    try {
      const child = spawnScan(args);
      running.add(child);
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      const exited = new Promise<[number | null, string | null]>((resolve) =>
        child.once('exit', (code, signal) => resolve([code, signal])),
      );
      await until(() => existsSync(out) && readFileSync(out, 'utf8').includes('\n'), 'a line');
      // A service manager's stop. Before: killed at once, the lines not yet written lost (their
      // files called again by --resume) and no summary.
      child.kill('SIGTERM');
      expect(await exited).toEqual([143, null]);
      expect(JSON.parse(stdout)).toMatchObject({ interrupted: true });
      const stopped = lines(out);
      expect(stopped.length).toBeLessThan(12);
      expect(emulator.calls.filter((c) => c.key === key)).toHaveLength(stopped.length);
      const resumed = await scan([...args, '--resume']);
      expect(resumed.code).toBe(0);
      expect(
        lines(out)
          .map((l) => l.path)
          .sort(),
      ).toEqual([...files].sort());
      expect(emulator.calls.filter((c) => c.key === key)).toHaveLength(12);
    } finally {
      emulator.setLatency(0);
    }
  }, 60_000);

  it('a journal that can no longer be written stops the run: one error line, no stack, exit 1', async () => {
    const dir = folder();
    const files = images(dir, 24);
    const out = join(folder(), 'results.jsonl');
    const key = 'efbig-key';
    const args = [dir, '--out', out, '--api-key', key, '--base-url', emulator.url, '--rate', '4'];
    // Files over 512 bytes cannot grow (EFBIG; Node ignores SIGXFSZ): the journal's second or
    // third line fails, as on a full disk.
    const command = ['ulimit -f 1', `exec "$@"`].join('; ');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        'sh',
        ['-c', command, 'sh', process.execPath, '--import', 'tsx', MAIN, 'scan', ...args],
        { env: cleanEnv },
        (error, _stdout, stderr) => {
          running.delete(child);
          resolve({ code: error ? Number(error.code ?? 1) : 0, stderr });
        },
      );
      running.add(child);
    });
    // Before: an unhandled rejection's stack, and the run went on calling for every file.
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`photodna-guard: could not write ${out} (EFBIG`);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    const called = emulator.calls.filter((c) => c.key === key).length;
    expect(called).toBeLessThan(24);
    // The torn last line is cut; the rest scanned.
    expect((await scan([...args, '--resume'])).code).toBe(0);
    expect(
      lines(out)
        .map((l) => l.path)
        .sort(),
    ).toEqual([...files].sort());
  }, 60_000);
});

/** Secrets on a command line are readable by every user of the machine (ps) and in shell history. */
describe('photodna-guard scan: secrets from the environment', () => {
  it('--api-key works but warns on stderr, naming PHOTODNA_API_KEY and never the key; the variable does not warn', async () => {
    const dir = folder();
    images(dir, 1);
    const flagKey = 'flag-secret-key-0123456789';
    const flagged = await scan([
      dir,
      '--out',
      join(folder(), 'results.jsonl'),
      '--api-key',
      flagKey,
      '--base-url',
      emulator.url,
    ]);
    expect(flagged.code).toBe(0);
    // Before: no warning.
    const warnings = flagged.stderr.split('\n').filter((line) => line.includes('warning'));
    expect(warnings).toEqual([
      'photodna-guard: warning: --api-key on the command line is visible to every user of this machine (ps) and kept in shell history; set PHOTODNA_API_KEY instead',
    ]);
    expect(`${flagged.stdout}${flagged.stderr}`).not.toContain(flagKey);
    expect(emulator.calls.filter((c) => c.key === flagKey)).toHaveLength(1);

    const envKey = 'env-secret-key-0123456789';
    const fromEnv = await scan(
      [dir, '--out', join(folder(), 'results.jsonl'), '--base-url', emulator.url],
      { PHOTODNA_API_KEY: envKey },
    );
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stderr).not.toContain('warning');
    expect(emulator.calls.filter((c) => c.key === envKey)).toHaveLength(1);
  });
});

describe('photodna-guard scan: a base URL with credentials or a query string', () => {
  it("fails with the client's refusal, naming --base-url's option or PHOTODNA_BASE_URL, never printing them", async () => {
    const dir = folder();
    images(dir, 1);
    const key = { PHOTODNA_API_KEY: 'base-url-key' };
    const refusal = (what: string, from = '') =>
      `photodna-guard: Invalid PhotoDnaClient options: baseUrl${from}: must not carry ${what}: it is never sent. PhotoDNA authenticates with apiKey (the Ocp-Apim-Subscription-Key header, or PHOTODNA_API_KEY); give the URL without it\n`;
    const withCredentials = emulator.url.replace('http://', 'http://base-user:base-secret-pw@');
    const withQuery = `${emulator.url}/?subscription-key=query-secret-key`;
    for (const [args, env, expected] of [
      [['--base-url', withCredentials], key, refusal('a user name or password')],
      [['--base-url', withQuery], key, refusal('a query string')],
      [
        [],
        { ...key, PHOTODNA_BASE_URL: withCredentials },
        refusal('a user name or password', ' (from PHOTODNA_BASE_URL)'),
      ],
    ] as const) {
      const out = join(folder(), 'results.jsonl');
      const run = await scan([dir, '--out', out, ...args], env);
      // Before: a warning (credentials) or nothing (query), then the scan ran, the parts dropped.
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain(expected);
      expect(run.stderr).not.toContain('warning');
      for (const secret of ['base-secret-pw', 'base-user', 'query-secret-key']) {
        expect(`${run.stdout}${run.stderr}`).not.toContain(secret);
      }
    }
    expect(emulator.calls.filter((c) => c.key === key.PHOTODNA_API_KEY)).toHaveLength(0);
    // Without them: no warning.
    const plain = await scan(
      [dir, '--out', join(folder(), 'results.jsonl'), '--base-url', emulator.url],
      key,
    );
    expect(plain.code).toBe(0);
    expect(plain.stderr).not.toContain('warning');
  }, 60_000);
});

describeWithRedis('photodna-guard scan: a Redis URL with a password', () => {
  it('--redis warns naming PHOTODNA_REDIS_URL (never the password); the variable is used without a warning', async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    try {
      await admin.call('ACL', 'SETUSER', 'scanner', 'on', '>scan-secret-pw', '~*', '&*', '+@all');
      const url = `redis://scanner:scan-secret-pw@127.0.0.1:${server.port}`;
      // Only the scan authenticates (the admin connection is the default user's): AUTH calls
      // counted by Redis say which runs used the URL.
      const auths = async () =>
        Number(/cmdstat_auth:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
      const dir = folder();
      images(dir, 1);
      const key = { PHOTODNA_API_KEY: 'redis-scan-key' };
      const args = () => [
        dir,
        '--out',
        join(folder(), 'results.jsonl'),
        '--base-url',
        emulator.url,
      ];

      const flagged = await scan([...args(), '--redis', url], key);
      expect(flagged.code).toBe(0);
      const authsOfFlag = await auths();
      expect(authsOfFlag).toBeGreaterThan(0);
      // Before: no warning.
      expect(flagged.stderr).toContain(
        'photodna-guard: warning: --redis with a password on the command line is visible to every user of this machine (ps) and kept in shell history; set PHOTODNA_REDIS_URL instead',
      );
      expect(`${flagged.stdout}${flagged.stderr}`).not.toContain('scan-secret-pw');

      // A URL without a password is no secret: no warning.
      const plain = await scan([...args(), '--redis', server.url], key);
      expect(plain.code).toBe(0);
      expect(plain.stderr).not.toContain('warning');

      // Before: the variable was not read (no AUTH, no shared budget).
      const fromEnv = await scan(args(), { ...key, PHOTODNA_REDIS_URL: url });
      expect(fromEnv.code).toBe(0);
      expect(fromEnv.stderr).not.toContain('warning');
      expect(await auths()).toBeGreaterThan(authsOfFlag);
    } finally {
      admin.disconnect();
      await server.close();
    }
  }, 60_000);
});
