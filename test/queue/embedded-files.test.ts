import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openScanQueue } from '../../src/queue/index.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';

/**
 * The embedded queue's files hold what jobs carry until they are done (URLs with their tokens,
 * uploader addresses, file names): private to the process's user whatever the umask, the
 * database and its write-ahead log included, and tightened, with a warning, when they were not.
 */

let root: string;
let umask: number;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pdg-queue-files-'));
  umask = process.umask(0); // the widest: every mode is as created
});
afterAll(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

const warnings: Error[] = [];
const onWarning = (warning: Error) => {
  if ((warning as { code?: string }).code === 'PHOTODNA_GUARD_QUEUE_FILES') warnings.push(warning);
};
process.on('warning', onWarning);
afterAll(() => {
  process.off('warning', onWarning);
});
afterEach(() => {
  warnings.length = 0;
});

const modes = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir).map((name) => [name, (statSync(join(dir, name)).mode & 0o777).toString(8)]),
  );

describe('embedded queue files', () => {
  it('are created private under umask 000: queue.db and its WAL 600, directories 700', async () => {
    const dir = join(root, 'fresh');
    const queue = await openScanQueue({ dir });
    await queue.enqueue({
      scanId: 'private-1',
      source: { kind: 'bytes', bytes: png(200, 200, 3) },
      uploader: { ip: '203.0.113.7' },
    });
    const open = modes(dir);
    await queue.close();
    expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
    expect(open).toEqual({ bytes: '700', 'queue.db': '600', 'queue.db-wal': '600' });
    expect(modes(join(dir, 'bytes'))).toEqual({ 'private-1': '600' });
    expect(warnings).toEqual([]);
  });

  it('an existing queue.db (and a leftover WAL) readable by others is made 600, with a warning', async () => {
    const dir = join(root, 'loose');
    await (await openScanQueue({ dir })).close();
    chmodSync(join(dir, 'queue.db'), 0o644);
    writeFileSync(join(dir, 'queue.db-wal'), '', { mode: 0o666 });
    const queue = await openScanQueue({ dir });
    await queue.enqueue({ scanId: 'after', source: { kind: 'ref', ref: 'media/1' } });
    expect(modes(dir)).toEqual({ bytes: '700', 'queue.db': '600', 'queue.db-wal': '600' });
    await queue.close();
    await until(() => warnings.length === 2, 'two warnings', 10_000);
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/queue\.db had mode 644, .* it is now 600/),
      expect.stringMatching(/queue\.db-wal had mode 666, .* it is now 600/),
    ]);
  });

  it('a directory readable by others is made 700, with a warning', async () => {
    const dir = join(root, 'loose-dir');
    mkdirSync(dir, { mode: 0o755 });
    await (await openScanQueue({ dir })).close();
    expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
    await until(() => warnings.length === 1, 'the warning', 10_000);
    expect(warnings[0]?.message).toMatch(/loose-dir had mode 755, .* it is now 700/);
  });
});
