import { describe, expect, it } from 'vitest';
import { readDimensions } from '../../../src/core/dimensions.js';
import { GuardError } from '../../../src/errors.js';
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
    expect(readDimensions(make(321, 234), type)).toEqual({ width: 321, height: 234 });
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
