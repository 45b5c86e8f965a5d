import { describe, expect, it } from 'vitest';
import { readDimensions } from '../../../src/core/dimensions.js';
import { sniffImageType } from '../../../src/core/sniff.js';
import { GuardError } from '../../../src/errors.js';
import { CRAFTED_TYPES, crafted } from '../../fixtures/crafted.js';
import { bmp, gif, jpg, png, tiff } from '../../fixtures/images.js';

const formats = [
  ['image/png', png],
  ['image/jpeg', jpg],
  ['image/gif', gif],
  ['image/bmp', bmp],
  ['image/tiff', tiff],
] as const;

describe('readDimensions', () => {
  it.each(formats)('%s: reads width and height', (type, make) => {
    expect(readDimensions(make(321, 234), type)).toMatchObject({ width: 321, height: 234 });
  });

  it.each(formats)(
    '%s: every truncation of the header is INVALID_IMAGE, never random dimensions',
    (type, make) => {
      const whole = make(300, 200);
      for (const cut of [0, 1, 5, 10, 16, 24, 30]) {
        expect(() => readDimensions(whole.subarray(0, cut), type), `cut at ${cut}`).toThrow(
          GuardError,
        );
      }
    },
  );

  it('a truncated header inside a pooled Buffer slice does not read the bytes after it (SPEC 4)', () => {
    // Two small files back to back in one pooled allocation: the first cut short, the second whole.
    const whole = png(300, 200);
    const pool = Buffer.concat([whole.subarray(0, 20), Buffer.from(whole)]);
    const truncated = pool.subarray(0, 20);
    expect(truncated.buffer.byteLength).toBeGreaterThan(20);
    expect(() => readDimensions(truncated, 'image/png')).toThrow(GuardError);
  });
});

describe('bounded validation work (issue 11, class 1)', () => {
  it.each(Object.entries(crafted))(
    'dos: a crafted 4 MiB %s is INVALID_IMAGE after a bounded walk, never a byte-by-byte read',
    async (name, make) => {
      const bytes = make();
      const type = CRAFTED_TYPES[name as keyof typeof CRAFTED_TYPES];
      expect(await sniffImageType(bytes)).toBe(type);
      expect(() => readDimensions(bytes, type)).toThrow(
        expect.objectContaining({ code: 'INVALID_IMAGE' }),
      );
    },
  );

  it('dos: a JPEG whose scan comes before its frame header is refused even with a valid SOF at the end', () => {
    expect(() => readDimensions(crafted.jpeg(64 * 1024), 'image/jpeg')).toThrow(
      expect.objectContaining({ detail: expect.stringMatching(/scan before any frame header/) }),
    );
  });

  it('a PNG whose first chunk is not IHDR is INVALID_IMAGE', () => {
    const bytes = Buffer.from(png(200, 200));
    bytes.write('tEXt', 12, 'latin1');
    expect(() => readDimensions(bytes, 'image/png')).toThrow(GuardError);
  });
});
