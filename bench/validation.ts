import { createHash } from 'node:crypto';
import { readDimensions } from '../src/core/dimensions.js';
import { sniffImageType } from '../src/core/sniff.js';
import { type UploadedFile, validateFile } from '../src/core/validate-file.js';
import { limitsSchema } from '../src/options.js';
import type { Benchmark } from './lib/benchmark.js';
import { bmp, gif, jpg, png, tiff } from './lib/fixtures.js';
import { median } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * Per-file validation cost: `validateFile` (size, type sniffed from the bytes, header dimensions
 * with the structure walk, and the SHA-256 the guard keys its cache on) against a bare
 * `sha256` of the same bytes, in short alternating rounds (medians), so CPU-frequency drift hits
 * both alike. The sniff + dimensions part alone is also timed directly (`sniffImageType` +
 * `readDimensions`), since subtracting two hash-dominated figures is too noisy for it.
 */
const WIDTH = 1024;
const HEIGHT = 768;
const ROUNDS = 15;
const ROUND_MS = 40;
const CHECKS_MS = 200;
const MAX_ITERATIONS = 50_000;
const WARMUP_ITERATIONS = 50;

const FORMATS: ReadonlyArray<readonly [string, (w: number, h: number) => Buffer]> = [
  ['png', png],
  ['jpeg', jpg],
  ['gif', gif],
  ['bmp', bmp],
  ['tiff', tiff],
];

let sink = 0;

/** Mean microseconds per call over one time-boxed run. */
async function microsPerCall(call: () => unknown, budgetMs: number): Promise<number> {
  const started = performance.now();
  let iterations = 0;
  while (iterations < MAX_ITERATIONS && performance.now() - started < budgetMs) {
    await call();
    iterations++;
  }
  return ((performance.now() - started) * 1000) / iterations;
}

export const validation: Benchmark = {
  name: 'validation',
  about: `validateFile vs sha256 per format at ${WIDTH}x${HEIGHT}, ${ROUNDS} alternating rounds of ${ROUND_MS} ms`,
  async run() {
    const limits = limitsSchema.parse({});
    const rows: Row[] = [];
    for (const [format, make] of FORMATS) {
      const bytes = make(WIDTH, HEIGHT);
      const upload: UploadedFile = { field: 'file', originalname: `a.${format}`, bytes };
      const hash = () => {
        sink ^= createHash('sha256').update(bytes).digest()[0] ?? 0;
      };
      const validate = async () => {
        sink ^= (await validateFile(upload, limits)).width;
      };
      const checks = async () => {
        sink ^= readDimensions(bytes, await sniffImageType(bytes)).width;
      };
      for (let i = 0; i < WARMUP_ITERATIONS; i++) {
        hash();
        await validate();
        await checks();
      }
      const hashRounds: number[] = [];
      const validateRounds: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        hashRounds.push(await microsPerCall(hash, ROUND_MS));
        validateRounds.push(await microsPerCall(validate, ROUND_MS));
      }
      const checksUs = await microsPerCall(checks, CHECKS_MS);
      const hashUs = median(hashRounds);
      const validateUs = median(validateRounds);
      const kib = bytes.length / 1024;
      note(
        `${format}: ${fmt(kib, 'KiB')}, validateFile ${fmt(validateUs, 'µs')}, sha256 ${fmt(hashUs, 'µs')}, ` +
          `sniff+dimensions alone ${fmt(checksUs, 'µs')}`,
      );
      rows.push({
        benchmark: `validateFile ${format} ${WIDTH}x${HEIGHT} (${fmt(kib, 'KiB')})`,
        measured: `${fmt(validateUs, 'µs')} (sniff+dims ${fmt(checksUs, 'µs')})`,
        baseline: `${fmt(hashUs, 'µs')} sha256`,
        ratio: validateUs / hashUs,
        goal: '— (info)',
      });
    }
    if (sink === Number.MIN_SAFE_INTEGER) note(String(sink));
    return rows;
  },
};
