import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { serveUploads } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';
import { recordOutcomes, uploadAccepted } from './outcomes.js';

/**
 * The embedded queue's enqueue writes the job's bytes (libuv's thread pool: write, fsync, rename)
 * before its row is committed. A slow disk or a busy thread pool can make that outlast the
 * route's deadline: the upload is refused 503, and its job must not be committed afterwards and
 * scanned for a `scanId` the host never heard of. Here the pool is held by opens of FIFOs that no
 * one writes yet (each open waits for a writer), then let go after the 503.
 */

const emu = useEmulator({ rateLimit: false });
const root = mkdtempSync(join(tmpdir(), 'pdg-embedded-refused-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const hasMkfifo = spawnSync('mkfifo', ['--version'], { stdio: 'ignore' }).status === 0;
let seed = 93_000;

/** Holds every thread of libuv's pool until `release()`. */
function holdThreadPool(): { release: () => Promise<void> } {
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const fifos = Array.from({ length: size }, (_, i) => join(root, `fifo-${seed}-${i}`));
  for (const fifo of fifos) spawnSync('mkfifo', [fifo]);
  const reads = fifos.map((fifo) => readFile(fifo));
  return {
    release: async () => {
      // A writer opening each FIFO ends its reader's open; closing it ends the read (EOF).
      for (const fifo of fifos) closeSync(openSync(fifo, 'w'));
      await Promise.all(reads);
    },
  };
}

describe.skipIf(!hasMkfifo)(
  'a deferred upload refused because its embedded enqueue was slow',
  () => {
    const closers: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    it('is never committed, scanned or matched once the write finishes, and its copy is removed', async () => {
      const queueDir = join(root, 'queue');
      const guard = photodnaGuard(
        emu.options({
          queue: { dir: queueDir },
          quarantine: { dir: join(root, 'quarantine') },
          defer: true,
          policy: 'quarantine',
          scanTimeoutMs: 1_000,
        }),
      );
      const seen = recordOutcomes(guard);
      const server = await serveUploads(guard);
      closers.push(() => server.close());
      const upload = (bytes: Buffer) =>
        request(server.url).post('/upload').attach('f', bytes, 'a.png');
      const accepted = async (): Promise<string> =>
        (await uploadAccepted(server.url, seen, png(200, 200, seed++)))[0] as string;

      const first = await accepted();
      const pool = holdThreadPool();
      let released = false;
      closers.push(async () => {
        if (!released) await pool.release();
      });
      const refused = await upload(knownImage());
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('SCAN_UNAVAILABLE');
      released = true;
      await pool.release();

      // Its write queued in the pool before the next upload's: once that one is scanned, the
      // refused enqueue has ended, and its copy is removed, not committed.
      const second = await accepted();
      await until(() => readdirSync(join(queueDir, 'bytes')).length === 0, 'no copy left');
      expect(seen.scans.map((e) => e.scanId)).toEqual([first, second]);
      expect(seen.matches).toEqual([]);
    }, 60_000);
  },
);
