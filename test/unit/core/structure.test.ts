import { describe, expect, it } from 'vitest';
import { readDimensions } from '../../../src/core/dimensions.js';
import { sniffImageType } from '../../../src/core/sniff.js';
import { GuardError } from '../../../src/errors.js';
import { CRAFTED_TYPES, crafted, craftedValid } from '../../fixtures/crafted.js';
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

describe('the end of a JPEG (trailing data, issue 11 class 4)', () => {
  /** SOI, a frame header, a scan header, `scan` as entropy-coded data, then `tail`. */
  function jpegWith(scan: Buffer, tail: Buffer): Buffer {
    const sof = [0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x20, 0x01, 0x01, 0x11, 0x00];
    const sos = [0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00];
    return Buffer.concat([Buffer.from([0xff, 0xd8, ...sof, ...sos]), scan, tail]);
  }
  const EOI = Buffer.from([0xff, 0xd9]);
  const endOf = (bytes: Buffer) => readDimensions(bytes, 'image/jpeg').end;

  it('a real JPEG ends at its last byte; appended bytes are past the end', () => {
    const whole = jpg(300, 200);
    expect(endOf(whole)).toBe(whole.length);
    expect(endOf(Buffer.concat([whole, jpg(64, 64)]))).toBe(whole.length);
  });

  it('0xD9 after a stuffed 0x00 or alone is scan data; after 0xFF (fill bytes too) it is the end', () => {
    const scan = Buffer.from([0x12, 0xd9, 0xff, 0x00, 0xd9, 0xff, 0xd0, 0x34, 0xd9]);
    const image = jpegWith(scan, EOI);
    expect(endOf(Buffer.concat([image, Buffer.from('trailing')]))).toBe(image.length);
    const filled = jpegWith(scan, Buffer.from([0xff, 0xff, 0xd9]));
    expect(endOf(Buffer.concat([filled, EOI]))).toBe(filled.length);
  });

  it('without an EOI the image ends where its bytes do', () => {
    const bytes = jpegWith(Buffer.from([0x12, 0xd9, 0x34]), Buffer.alloc(0));
    expect(endOf(bytes)).toBe(bytes.length);
  });

  it('dos: the worst case of the end search (0xFF 0x00 0xD9 repeated) passes whole, and an EOI after it is found', () => {
    const bytes = craftedValid.jpegEndSearch();
    expect(endOf(bytes)).toBe(bytes.length);
    const ended = Buffer.concat([bytes, EOI]);
    expect(endOf(Buffer.concat([ended, jpg(64, 64)]))).toBe(ended.length);
  });

  it('dos: scan data dense with lone 0xD9 bytes still finds the first EOI (one plain pass takes over)', () => {
    const lone = Buffer.alloc(1024 * 1024, 0xd9);
    const image = jpegWith(lone, EOI);
    expect(endOf(Buffer.concat([image, jpg(64, 64)]))).toBe(image.length);
    expect(endOf(jpegWith(lone, Buffer.alloc(0)))).toBe(image.length - 2);
  });
});
