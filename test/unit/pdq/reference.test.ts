/**
 * The PDQ hasher against Meta's C++ reference: bit for bit on lossless formats (PNG, GIF, BMP,
 * TIFF), within a few bits on JPEG (decoders differ), dihedral variants included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIHEDRAL_NAMES } from '../../../src/pdq/bits.js';
import { computePdq } from '../../../src/pdq/compute.js';
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

  it('gives the same hashes when decoding and hashing in the worker pool', async () => {
    const pool = new HashPool(2);
    try {
      const results = await Promise.all(
        REFERENCE.map((ref) => pdqHashDihedral(join(FIXTURES, ref.file), { pool })),
      );
      REFERENCE.forEach((ref, i) => {
        const got = DIHEDRAL_NAMES.map((name) => results[i]?.dihedral[name]);
        if (ref.lossless) expect(got, ref.file).toEqual(ref.dihedral);
        expect(results[i]?.quality, ref.file).toBe(ref.quality);
      });
      // Decoded pixels sent to the pool give the calling thread's answer too.
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

  it('reports decode failures from the pool as PdqDecodeError', async () => {
    const pool = new HashPool(1);
    try {
      const bmp = readFileSync(join(FIXTURES, 'scene4-rgb24.bmp'));
      const rle = Buffer.from(bmp);
      rle.writeUInt32LE(1, 30); // BI_RLE8: a sound header, a compression we do not decode
      await expect(pdqHash(rle, { pool })).rejects.toMatchObject({
        name: 'PdqDecodeError',
        kind: 'undecodable',
      });
      await expect(pdqHash(bmp, { pool, maxPixels: 100 })).rejects.toMatchObject({
        kind: 'too-many-pixels',
      });
    } finally {
      await pool.close();
    }
  });
});
