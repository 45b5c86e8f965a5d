import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { computePdq } from '../src/pdq/compute.js';
import { decodeImage } from '../src/pdq/decode.js';
import { HashPool, pdqHash } from '../src/pdq/index.js';
import { drawScene } from '../test/fixtures/pdq/scene.js';
import type { Benchmark } from './lib/benchmark.js';
import { median } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * PDQ cost per image at 0.25, 1 and 4 megapixels (photo-like JPEG, quality 85), split into
 * decoding (sharp, in its thread pool) and the hash math at full resolution (on this thread).
 * Baseline: the decode of the same file, so `ratio` is hash time in decodes. Then the longest
 * event-loop stall while `pdqHash` decodes and hashes in the worker pool (median of 5), against the
 * stall of an idle loop over the same time (median of 5, alternating) (what the machine costs anyway); the inline stall is shown for contrast:
 * it is the reason the pool exists.
 */
const SIZES: ReadonlyArray<readonly [number, number]> = [
  [500, 500],
  [1000, 1000],
  [2000, 2000],
];
const ROUNDS = 5;
const STALL_ROUNDS = 5;

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** The longest event-loop stall (ms) while `fn` runs. */
async function stall(fn: () => Promise<unknown> | unknown): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await new Promise((resolve) => setImmediate(resolve));
  await fn();
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  return histogram.max / 1e6;
}

export const pdqHashBench: Benchmark = {
  name: 'pdq-hash',
  about:
    'PDQ per image size: sharp decode vs hash math, and event-loop stalls with/without the worker pool',
  async run() {
    const rows: Row[] = [];
    const pool = new HashPool(1);
    try {
      for (const [width, height] of SIZES) {
        const scene = drawScene(9, width, height);
        const jpeg = await sharp(Buffer.from(scene.rgb), { raw: { width, height, channels: 3 } })
          .jpeg({ quality: 85 })
          .toBuffer();
        const mp = (width * height) / 1e6;
        const decoded = await decodeImage(jpeg);
        computePdq(decoded);
        await pool.run({ ...decoded, data: decoded.data.slice() }, false);
        const decodeMs: number[] = [];
        const hashMs: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          decodeMs.push(await time(() => decodeImage(jpeg)));
          hashMs.push(await time(() => computePdq(decoded)));
        }
        const inlineStall = await stall(() => pdqHash(jpeg, { pool: false }));
        // Medians of alternating pooled and idle runs: the machine's own stalls vary a lot.
        const pooledStalls: number[] = [];
        const idleStalls: number[] = [];
        for (let round = 0; round < STALL_ROUNDS; round++) {
          let pooledMs = 0;
          pooledStalls.push(
            await stall(async () => {
              pooledMs = await time(() => pdqHash(jpeg, { pool }));
            }),
          );
          // What the loop stalls anyway on this machine, idle for as long as the pooled hash took.
          idleStalls.push(
            await stall(() => new Promise((resolve) => setTimeout(resolve, pooledMs))),
          );
        }
        const pooledStall = median(pooledStalls);
        const idleStall = median(idleStalls);
        const label = `${mp} MP (${width}x${height}, ${(jpeg.length / 1024).toFixed(0)} KiB jpeg)`;
        note(
          `${label}: decode ${fmt(median(decodeMs), 'ms')}, hash ${fmt(median(hashMs), 'ms')}, ` +
            `loop stall inline ${fmt(inlineStall, 'ms')} / pooled ${fmt(pooledStall, 'ms')} / idle ${fmt(idleStall, 'ms')}`,
        );
        rows.push({
          benchmark: `pdq hash math, ${mp} MP`,
          measured: fmt(median(hashMs), 'ms'),
          baseline: `decode ${fmt(median(decodeMs), 'ms')}`,
          ratio: median(hashMs) / median(decodeMs),
          goal: '',
        });
        rows.push({
          benchmark: `pdq loop stall, ${mp} MP`,
          measured: `pooled ${fmt(pooledStall, 'ms')} (inline ${fmt(inlineStall, 'ms')})`,
          baseline: `idle ${fmt(idleStall, 'ms')}`,
          ratio: pooledStall / idleStall,
          goal: 'pooled <= idle + 5 ms',
          met: pooledStall <= idleStall + 5,
        });
      }
    } finally {
      await pool.close();
    }
    return rows;
  },
};
