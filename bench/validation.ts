import { createHash } from 'node:crypto';
import { type UploadedFile, validateFile } from '../src/core/validate-file.js';
import { limitsSchema } from '../src/options.js';
import type { Benchmark } from './lib/benchmark.js';
import { bmp, gif, jpg, png, tiff } from './lib/fixtures.js';
import { median } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * Per-file validation cost: `validateFile` (size, type sniffed from the bytes, header dimensions
 * with the structure walk, and the SHA-256 the guard keys its cache on) against a bare
 * `sha256` of the same bytes. Since validateFile includes one hash, `ratio - 1` is what the
 * sniffing and the header checks cost, in hashes of the same file.
 */
const WIDTH = 1024;
const HEIGHT = 768;
const ROUNDS = 5;
const ROUND_MS = 120;
const MAX_ITERATIONS = 20_000;
const WARMUP_ITERATIONS = 50;

const FORMATS: ReadonlyArray<readonly [string, (w: number, h: number) => Buffer]> = [
  ['png', png],
  ['jpeg', jpg],
  ['gif', gif],
  ['bmp', bmp],
  ['tiff', tiff],
];

let sink = 0;

/** Mean microseconds per call over one time-boxed round. */
async function microsPerCall(call: () => unknown): Promise<number> {
  const started = performance.now();
  let iterations = 0;
  while (iterations < MAX_ITERATIONS && performance.now() - started < ROUND_MS) {
    await call();
    iterations++;
  }
  return ((performance.now() - started) * 1000) / iterations;
}

export const validation: Benchmark = {
  name: 'validation',
  about: `validateFile vs sha256, ${WIDTH}x${HEIGHT} per format, ${ROUNDS} rounds of ${ROUND_MS} ms each`,
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
      for (let i = 0; i < WARMUP_ITERATIONS; i++) {
        hash();
        await validate();
      }
      const hashRounds: number[] = [];
      const validateRounds: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        hashRounds.push(await microsPerCall(hash));
        validateRounds.push(await microsPerCall(validate));
      }
      const hashUs = median(hashRounds);
      const validateUs = median(validateRounds);
      const kib = bytes.length / 1024;
      note(
        `${format}: ${fmt(kib, 'KiB')}, validateFile ${fmt(validateUs, 'µs')}, sha256 ${fmt(hashUs, 'µs')}, ` +
          `sniff+dimensions ≈ ${fmt(Math.max(0, validateUs - hashUs), 'µs')}`,
      );
      rows.push({
        benchmark: `validateFile ${format} ${WIDTH}x${HEIGHT} (${fmt(kib, 'KiB')})`,
        measured: `${fmt(validateUs, 'µs')}/file`,
        baseline: `${fmt(hashUs, 'µs')} sha256`,
        ratio: validateUs / hashUs,
        goal: '— (info)',
      });
    }
    if (sink === Number.MIN_SAFE_INTEGER) note(String(sink));
    return rows;
  },
};
