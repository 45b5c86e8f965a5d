/**
 * The PDQ hasher against Meta's C++ reference: bit for bit on lossless formats (PNG, GIF, BMP,
 * TIFF), within a few bits on JPEG (decoders differ), dihedral variants included.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIHEDRAL_NAMES } from '../../../src/pdq/bits.js';
import { HashPool, pdqDistance, pdqHash, pdqHashDihedral } from '../../../src/pdq/index.js';
import { REFERENCE } from './reference-hashes.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/pdq');

/** JPEG decoders (libjpeg in the reference's CImg, libjpeg-turbo/mozjpeg in sharp) round differently. */
const JPEG_TOLERANCE = 8;

describe('PDQ matches the C++ reference', () => {
  for (const ref of REFERENCE) {
    it(`${ref.file}: hash, quality and the eight dihedral hashes`, async () => {
      const result = await pdqHashDihedral(join(FIXTURES, ref.file), { pool: false });
      expect(result.quality).toBe(ref.quality);
      const got = DIHEDRAL_NAMES.map((name) => result.dihedral[name]);
      if (ref.lossless) {
        expect(got).toEqual(ref.dihedral);
      } else {
        got.forEach((hash, i) => {
          expect(pdqDistance(hash, ref.dihedral[i] as string)).toBeLessThanOrEqual(JPEG_TOLERANCE);
        });
      }
      expect(result.hash).toBe(got[0]);
    });
  }

  it('gives the same hash in the worker pool as on the calling thread', async () => {
    const pool = new HashPool(1);
    try {
      for (const ref of REFERENCE.filter((r) => r.lossless)) {
        const viaPool = await pdqHash(join(FIXTURES, ref.file), { pool });
        // The fixtures are small enough to hash inline by default; force the pool with a big one below.
        expect(viaPool.hash).toBe(ref.dihedral[0]);
      }
      const { computePdq } = await import('../../../src/pdq/compute.js');
      const width = 700;
      const height = 500;
      const data = new Uint8Array(width * height * 3).map((_, i) => (i * 2654435761) >>> 24);
      const image = { data: data.slice(), width, height, channels: 3 };
      expect(await pool.run(image, false)).toEqual(
        computePdq({ data, width, height, channels: 3 }),
      );
    } finally {
      await pool.close();
    }
  });
});
