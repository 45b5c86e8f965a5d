import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run as scan } from '../../src/cli/scan.js';
import { run as worker } from '../../src/cli/worker.js';
import { png } from '../fixtures/images.js';

/**
 * `photodna-guard worker` and `scan` run in-process through the CLI's shared I/O (run-io.ts):
 * a bad command line is exit 2 with the reason and the usage on stderr, before anything starts
 * (no Redis, no PhotoDNA call); `--help` is the usage on stdout.
 */
const root = mkdtempSync(join(tmpdir(), 'pdg-cli-usage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function capture(
  command: typeof scan,
  argv: string[],
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await command(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('photodna-guard worker', () => {
  // The developer's own Redis URL must not stand in for the missing --redis.
  beforeEach(() => {
    vi.stubEnv('PHOTODNA_REDIS_URL', '');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each([
    [[], '--redis URL (or env PHOTODNA_REDIS_URL) is required'],
    [['--redis', 'redis://127.0.0.1:1', '--policy', 'block'], '--policy is quarantine or flag'],
    [
      ['--redis', 'redis://127.0.0.1:1', '--concurrency', 'many'],
      '--concurrency is a positive integer, got many',
    ],
    [
      ['--redis', 'redis://127.0.0.1:1', '--concurrency', '2.5'],
      '--concurrency is a positive integer',
    ],
    [
      ['--redis', 'redis://127.0.0.1:1', '--rate', '0'],
      '--rate is an integer from 1 to 1000, got 0',
    ],
    [['--redis', 'redis://127.0.0.1:1', '--rate', '0.5'], '--rate is an integer from 1 to 1000'],
    [['--redis', 'redis://127.0.0.1:1', '--rate', '5000'], '--rate is an integer from 1 to 1000'],
    [['--redis', 'redis://127.0.0.1:1', '--no-such-flag'], "Unknown option '--no-such-flag'"],
  ])('%j is a usage error (exit 2) naming what is wrong', async (argv, message) => {
    const { code, out, err } = await capture(worker, argv);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err[0]).toContain(`photodna-guard worker: ${message}`);
    expect(err.at(-1)).toMatch(/^Usage: photodna-guard worker --redis URL/);
  });

  it('--help prints the usage on stdout', async () => {
    const { code, out, err } = await capture(worker, ['--help']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^Usage: photodna-guard worker/);
    expect(err).toEqual([]);
  });
});

describe('photodna-guard scan', () => {
  it.each([
    [['--out', 'x.jsonl'], 'give files, directories or --manifest'],
    [[root], '--out is required (unless --dry-run)'],
    [[root, '--dry-run', '--rate', 'fast'], '--rate is an integer from 1 to 1000, got fast'],
    [[root, '--dry-run', '--concurrency', '0'], '--concurrency is a positive integer, got 0'],
    [[root, '--dry-run', '--api-version', 'v3'], '--api-version is v1 or v2, got v3'],
  ])('%j is a usage error (exit 2) naming what is wrong', async (argv, message) => {
    const { code, out, err } = await capture(scan, argv);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err[0]).toBe(`photodna-guard scan: ${message}`);
    expect(err.at(-1)).toMatch(/^Usage: photodna-guard scan/);
  });

  it('--dry-run counts and validates a directory in-process: its summary goes to the given output', async () => {
    const dir = mkdtempSync(join(root, 'media-'));
    writeFileSync(join(dir, 'a.png'), png(200, 200, 61));
    writeFileSync(join(dir, 'b.png'), png(200, 200, 62));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    const { code, out } = await capture(scan, [dir, '--dry-run']);
    expect(code).toBe(0);
    expect(JSON.parse(out.at(-1) as string)).toMatchObject({ interrupted: false, error: 0 });
  });
});
