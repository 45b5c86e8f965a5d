import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/emulator.js';
import { testImages } from '../../src/emulator/index.js';
import { png } from '../fixtures/images.js';
import { call, PATHS } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'pdg-cli-'));
  dirs.push(dir);
  return dir;
};

/** Runs the command in-process until `stop` is aborted; resolves with its URL once listening. */
function start(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const stop = new AbortController();
  let announce: (url: string) => void = () => undefined;
  const listening = new Promise<string>((resolveUrl) => {
    announce = resolveUrl;
  });
  const exit = run(argv, {
    out: (line) => {
      out.push(line);
      const url = /^PhotoDNA emulator listening on (http:\/\/\S+)$/.exec(line)?.[1];
      if (url) announce(url);
    },
    err: (line) => err.push(line),
    signal: stop.signal,
  });
  return {
    out,
    err,
    stop: () => stop.abort(),
    exit,
    listening: Promise.race([listening, exit.then(() => '')]),
  };
}

describe('photodna-guard emulator (run)', () => {
  it('prints its URL, serves the API and returns 0 when stopped', async () => {
    const cli = start(['--port', '0']);
    const url = await cli.listening;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const answer = await call(url, PATHS.v2, {
      body: testImages()[0]?.bytes,
      contentType: 'image/png',
    });
    expect(answer.json.IsMatch).toBe(true);
    cli.stop();
    expect(await cli.exit).toBe(0);
    await expect(call(url, PATHS.v2, { body: png(), contentType: 'image/png' })).rejects.toThrow();
  });

  it('takes --api-key, --known (files and directories, repeatable) and --no-rate-limit', async () => {
    const dir = tempDir();
    const known = png(200, 200, 31);
    writeFileSync(join(dir, 'known.png'), known);
    const other = tempDir();
    writeFileSync(join(other, 'also.png'), png(200, 200, 32));
    const cli = start([
      '--api-key',
      'secret',
      '--known',
      join(dir, 'known.png'),
      '--known',
      other,
      '--no-rate-limit',
    ]);
    const url = await cli.listening;
    expect((await call(url, PATHS.v2, { body: known, contentType: 'image/png' })).status).toBe(401);
    const send = (bytes: Buffer) =>
      call(url, PATHS.v2, { body: bytes, contentType: 'image/png', key: 'secret' });
    expect((await send(known)).json.IsMatch).toBe(true);
    expect((await send(png(200, 200, 32))).json.IsMatch).toBe(true);
    const burst = await Promise.all(Array.from({ length: 12 }, () => send(png())));
    expect(burst.every((a) => a.status === 200)).toBe(true);
    cli.stop();
    expect(await cli.exit).toBe(0);
  });

  it('--pdq matches a re-encoded copy of a --known image', async () => {
    const dir = tempDir();
    const photo = readFileSync(new URL('../fixtures/pdq/scene6.jpg', import.meta.url));
    writeFileSync(join(dir, 'known.jpg'), photo);
    const copy = await sharp(photo).jpeg({ quality: 60 }).toBuffer();
    const send = (url: string) => call(url, PATHS.v2, { body: copy, contentType: 'image/jpeg' });
    const plain = start(['--known', join(dir, 'known.jpg')]);
    expect((await send(await plain.listening)).json.IsMatch).toBe(false);
    plain.stop();
    expect(await plain.exit).toBe(0);
    const cli = start(['--known', join(dir, 'known.jpg'), '--pdq']);
    expect((await send(await cli.listening)).json.IsMatch).toBe(true);
    cli.stop();
    expect(await cli.exit).toBe(0);
  });

  it('--write-test-images writes the known test images, then serves', async () => {
    const dir = join(tempDir(), 'images');
    const cli = start(['--write-test-images', dir]);
    const url = await cli.listening;
    for (const image of testImages()) {
      const written = readFileSync(join(dir, image.name));
      expect(written.equals(image.bytes)).toBe(true);
      expect(
        (await call(url, PATHS.v1, { body: written, contentType: 'image/png' })).json.IsMatch,
      ).toBe(true);
    }
    cli.stop();
    expect(await cli.exit).toBe(0);
  });

  it('--help prints the usage and returns 0', async () => {
    const cli = start(['--help']);
    expect(await cli.exit).toBe(0);
    expect(cli.out.join('\n')).toMatch(/Usage: photodna-guard emulator/);
  });

  it('returns 2 for an unknown flag or a bad port, 1 when it cannot start', async () => {
    for (const argv of [['--bogus'], ['--port', 'abc'], ['--port', '99999'], ['stray']]) {
      const cli = start(argv);
      expect(await cli.exit).toBe(2);
      expect(cli.err.join('\n')).toMatch(/photodna-guard emulator:/);
    }
    const missing = start(['--known', join(tempDir(), 'does-not-exist.png')]);
    expect(await missing.exit).toBe(1);
  });
});

const BUILT_CLI = resolve('dist/cli/main.js');

describe('photodna-guard emulator (built binary)', () => {
  it.skipIf(!existsSync(BUILT_CLI) || !existsSync(resolve('dist/cli/emulator.js')))(
    'runs until SIGINT, then exits 0',
    async () => {
      const child = spawn(process.execPath, [BUILT_CLI, 'emulator', '--port', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise<number | null>((resolveExit) =>
        child.on('exit', (code) => resolveExit(code)),
      );
      const url = await new Promise<string>((resolveUrl, reject) => {
        let seen = '';
        child.stdout.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          const found = /PhotoDNA emulator listening on (http:\/\/\S+)/.exec(seen)?.[1];
          if (found) resolveUrl(found);
        });
        child.on('exit', () => reject(new Error(`exited early: ${seen}`)));
      });
      const answer = await call(url, PATHS.v2, { body: png(), contentType: 'image/png' });
      expect(answer.json.Status.Code).toBe(3000);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    },
  );
});
