import type { Pool } from 'undici';
import { startEmulator } from '../src/emulator/index.js';
import type { Benchmark } from './lib/benchmark.js';
import { jpeg50k, jpegVariant } from './lib/images.js';
import { loadClient, runLoad } from './lib/load.js';
import { fileUpload, type Upload } from './lib/multipart.js';
import { startServer } from './lib/server-process.js';
import { median, percentile } from './lib/stats.js';
import { fmt, note } from './lib/table.js';

/**
 * One client, one request at a time, interleaving three kinds of request so that drift affects
 * all alike: the bare multer route; the guarded route with bytes it has seen (a cache hit: no
 * PhotoDNA call); the guarded route with new bytes (a miss: one Match call to the emulator).
 * The emulator's rate limit is off and the guard's is raised to 1000/s, so no miss waits for a
 * rate-limit slot: the miss latency is the call itself.
 */
const WARMUP = 30;
const SAMPLES = 300;

type Kind = 'bare' | 'hit' | 'miss';

export const cache: Benchmark = {
  name: 'cache',
  about: `cache hit vs miss vs bare route: ${SAMPLES} sequential ~50 KB JPEG uploads of each, interleaved`,
  async run() {
    const image = jpeg50k();
    const seen = fileUpload(image, 'photo.jpg');
    const fresh = Array.from({ length: WARMUP + SAMPLES }, (_, i) =>
      fileUpload(jpegVariant(image, `photodna-guard bench miss ${i}`), 'photo.jpg'),
    );
    const emulator = await startEmulator({ port: 0, rateLimit: false });
    const server = await startServer({
      kind: 'photodna',
      baseUrl: emulator.url,
      cache: true,
      perSecond: 1000,
      maxQueue: 100,
      scanTimeoutMs: 30_000,
    });
    const pool = loadClient(server.origin, 1);
    try {
      const latency: Record<Kind, number[]> = { bare: [], hit: [], miss: [] };
      // Server CPU per request, read over IPC around each one: the IPC's own cost is the same
      // for every kind, so hit − bare is what a hit adds, however busy the machine is.
      const cpu: Record<Kind, number[]> = { bare: [], hit: [], miss: [] };
      let failures = 0;
      for (let i = 0; i < WARMUP + SAMPLES; i++) {
        const plan: ReadonlyArray<[Kind, string, Upload]> = [
          ['bare', '/bare', seen],
          ['hit', '/guarded', seen],
          ['miss', '/guarded', fresh[i] as Upload],
        ];
        for (const [kind, path, upload] of plan) {
          const before = await server.cpuMicros();
          const ms = await once(pool, path, upload);
          const used = (await server.cpuMicros()) - before;
          if (ms === undefined) failures++;
          else if (i >= WARMUP) {
            latency[kind].push(ms);
            cpu[kind].push(used);
          }
        }
      }
      const calls = emulator.calls.filter((c) => c.operation === 'match-v2').length;
      const expectedCalls = WARMUP + SAMPLES + 1; // every miss, and the first upload of `seen`
      for (const kind of ['bare', 'hit', 'miss'] as const) {
        note(
          `${kind}: p50 ${fmt(median(latency[kind]), 'ms')}, p99 ${fmt(percentile(latency[kind], 99), 'ms')}, ` +
            `server CPU p50 ${fmt(median(cpu[kind]), 'µs')}`,
        );
      }
      note(`PhotoDNA calls ${calls} (expected ${expectedCalls}), failed requests ${failures}`);
      const bare = median(latency.bare);
      const hit = median(latency.hit);
      const miss = median(latency.miss);
      const sound = failures === 0 && calls === expectedCalls;
      return [
        {
          benchmark: 'cache hit latency vs bare multer (p50, c=1)',
          measured: `${fmt(hit, 'ms')} (+${fmt(hit - bare, 'ms')})`,
          baseline: fmt(bare, 'ms'),
          ratio: hit / bare,
          goal: '— (info)',
          met: sound ? undefined : false,
        },
        {
          benchmark: 'cache hit server CPU vs bare multer (p50, c=1)',
          measured: `${fmt(median(cpu.hit), 'µs')} (+${fmt(median(cpu.hit) - median(cpu.bare), 'µs')})`,
          baseline: fmt(median(cpu.bare), 'µs'),
          ratio: median(cpu.hit) / median(cpu.bare),
          goal: '— (info)',
          met: sound ? undefined : false,
        },
        {
          benchmark: 'cache miss vs hit latency (p50, c=1)',
          measured: fmt(miss, 'ms'),
          baseline: `${fmt(hit, 'ms')} hit`,
          ratio: miss / hit,
          goal: '— (info)',
          met: sound ? undefined : false,
        },
      ];
    } finally {
      await pool.close();
      await server.close();
      await emulator.close();
    }
  },
};

/** Latency of one request in ms, or `undefined` when it was not answered 200. */
async function once(pool: Pool, path: string, upload: Upload): Promise<number | undefined> {
  const result = await runLoad(pool, {
    path,
    uploads: [upload],
    concurrency: 1,
    requests: 1,
    maxMs: 30_000,
  });
  return result.statuses[200] === 1 ? result.latenciesMs[0] : undefined;
}
