/**
 * The multi-index search returns exactly what a linear scan returns, on random hashes and on
 * near-duplicates at every distance around the threshold.
 */
import { describe, expect, it } from 'vitest';
import { PdqIndex, pdqDistance } from '../../../src/pdq/index.js';

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const randomHash = (rand: () => number) =>
  Array.from({ length: 64 }, () => Math.floor(rand() * 16).toString(16)).join('');

/** `hash` with `bits` distinct bits flipped. */
function flip(hash: string, bits: number, rand: () => number): string {
  const bytes = Buffer.from(hash, 'hex');
  const chosen = new Set<number>();
  while (chosen.size < bits) chosen.add(Math.floor(rand() * 256));
  for (const bit of chosen) bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7));
  return bytes.toString('hex');
}

describe('PdqIndex', () => {
  const rand = random(42);
  const base = Array.from({ length: 3000 }, () => randomHash(rand));
  // Near-duplicates of some entries, at distances 0..40, so hits exist on both sides of 31.
  const near = Array.from({ length: 400 }, (_, i) => flip(base[i] as string, i % 41, rand));
  const hashes = [...base, ...near];
  const index = new PdqIndex(hashes.map((hash, i) => ({ hash, entry: `e${i}` })));

  it('agrees with a linear scan for thresholds 0 to 60', () => {
    const queries = [
      ...Array.from({ length: 30 }, () => randomHash(rand)),
      ...Array.from({ length: 120 }, (_, i) => flip(base[i * 3] as string, i % 48, rand)),
    ];
    for (const threshold of [0, 1, 15, 16, 31, 32, 47, 48, 60]) {
      for (const query of queries) {
        expect(index.search(query, threshold)).toEqual(index.scan(query, threshold));
      }
    }
  });

  it('finds an entry at distance exactly 31 and not one at 32 with the default threshold', () => {
    const target = base[7] as string;
    const at31 = flip(target, 31, rand);
    const at32 = flip(target, 32, rand);
    const hit = index.search(at31).find((h) => h.hash === target);
    expect(hit?.distance).toBe(31);
    expect(pdqDistance(at31, target)).toBe(31);
    expect(index.search(at32).some((h) => h.hash === target)).toBe(false);
  });

  it('returns hits closest first, with entry values and hashes', () => {
    const target = base[11] as string;
    const hits = index.search(target, 40);
    expect(hits[0]).toMatchObject({ hash: target, distance: 0, entry: 'e11', index: 11 });
    for (let i = 1; i < hits.length; i++) {
      expect((hits[i] as { distance: number }).distance).toBeGreaterThanOrEqual(
        (hits[i - 1] as { distance: number }).distance,
      );
    }
  });

  it('builds the same index asynchronously', async () => {
    const built = await PdqIndex.create(hashes.map((hash, i) => ({ hash, entry: i })));
    const query = flip(base[5] as string, 20, rand);
    expect(built.search(query).map((h) => h.index)).toEqual(
      index.search(query).map((h) => h.index),
    );
  });

  it('agrees with a linear scan when one chunk value is shared by thousands of hashes', () => {
    // Lists are not always uniform (many crops of one image): 5,000 hashes with the same first
    // 16 bits put 5,000 candidates in one chunk's bucket, beyond the search's first buffer.
    const shared = Array.from({ length: 5000 }, () => `ab12${randomHash(rand).slice(4)}`);
    // A few under the query's own first chunk, probed before the big bucket one bit away.
    const own = Array.from({ length: 20 }, () => `ab13${randomHash(rand).slice(4)}`);
    const skewed = PdqIndex.of([...shared, ...own, ...base.slice(0, 500)]);
    // own[3] with two bits flipped in each of chunks 1-15 (distance 30): only its first chunk is
    // within the search's radius, so only that chunk's candidates can find it.
    const bytes = Buffer.from(own[3] as string, 'hex');
    for (let c = 1; c < 16; c++) bytes[2 * c] = (bytes[2 * c] as number) ^ 0b11;
    const onlyFirstChunk = bytes.toString('hex');
    expect(pdqDistance(onlyFirstChunk, own[3] as string)).toBe(30);
    expect(skewed.search(onlyFirstChunk).map((h) => h.index)).toContain(5003);
    const queries = [
      onlyFirstChunk,
      `ab13${randomHash(rand).slice(4)}`,
      flip(own[3] as string, 20, rand),
      flip(shared[17] as string, 25, rand),
      flip(base[3] as string, 10, rand),
    ];
    for (const query of queries) {
      for (const threshold of [31, 47]) {
        expect(skewed.search(query, threshold)).toEqual(skewed.scan(query, threshold));
      }
    }
    expect(skewed.search(shared[17] as string)[0]).toMatchObject({ index: 17, distance: 0 });
  });

  it('refuses malformed hashes and bad thresholds', () => {
    expect(() => PdqIndex.of(['abc'])).toThrow(/64-digit hex/);
    expect(() => index.search('z'.repeat(64))).toThrow(/64-digit hex/);
    expect(() => index.search(base[0] as string, -1)).toThrow(RangeError);
    expect(PdqIndex.of([]).search(base[0] as string)).toEqual([]);
  });
});
