import { describe, expect, it } from 'vitest';
import { readDimensions } from '../../../src/core/dimensions.js';
import { sniffImageType } from '../../../src/core/sniff.js';
import { GuardError } from '../../../src/errors.js';
import { CRAFTED_TYPES, crafted, craftedValid } from '../../fixtures/crafted.js';
import { bmp, gif, jpg, png, tiff } from '../../fixtures/images.js';
import { jpegSegment, pngChunk, withJpegSegments } from '../../fixtures/metadata.js';
import { tiffPages } from '../../fixtures/shown-otherwise.js';

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

  it("a whole JPEG inside an APP segment and an EOI inside a comment, before the scan, are jumped over: the end is the image's own EOI", () => {
    const inner = jpg(64, 64);
    const whole = withJpegSegments(jpg(300, 200), [
      jpegSegment(0xe1, inner),
      jpegSegment(0xfe, Buffer.concat([EOI, Buffer.from('not the end')])),
    ]);
    expect(endOf(Buffer.concat([whole, inner]))).toBe(whole.length);
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

describe('images viewers show otherwise than PhotoDNA reads them', () => {
  const still = png(200, 200, 5);
  const ihdr = still.subarray(8, 33);
  const idat = still.subarray(33, still.length - 12);
  const u32 = (...values: number[]) =>
    Buffer.from(values.flatMap((v) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]));
  /** An fcTL: sequence, size, offset; a one-second delay. */
  const fcTL = (sequence: number, width = 200, height = 200, x = 0) =>
    pngChunk(
      'fcTL',
      Buffer.concat([u32(sequence, width, height, x, 0), Buffer.from([0, 1, 0, 1, 0, 0])]),
    );
  const acTL = pngChunk('acTL', u32(2, 0));
  const frame = [fcTL(1), pngChunk('fdAT', Buffer.concat([u32(2), idat.subarray(8, -4)]))];
  const pngOf = (...chunks: Buffer[]) =>
    Buffer.concat([still.subarray(0, 8), ihdr, ...chunks, pngChunk('IEND', Buffer.alloc(0))]);
  const wrongCrc = (chunk: Buffer) => {
    const out = Buffer.from(chunk);
    out[out.length - 1] = (out[out.length - 1] ?? 0) ^ 1;
    return out;
  };

  it.each([
    ['its IDAT the first frame', pngOf(acTL, fcTL(0), idat, ...frame)],
    ['acTL after the IDAT (not animated for any viewer)', pngOf(idat, acTL, fcTL(0), ...frame)],
    ['acTL and no frame', pngOf(acTL, idat)],
  ])('an APNG with %s is read', (_, bytes) => {
    expect(readDimensions(bytes, 'image/png')).toMatchObject({ width: 200, height: 200 });
  });

  it.each([
    ['no fcTL before its IDAT', pngOf(acTL, idat, ...frame)],
    ['its first fcTL before the acTL', pngOf(fcTL(0), acTL, idat, ...frame)],
    [
      'a first fcTL whose CRC is wrong (Chromium skips it)',
      pngOf(acTL, wrongCrc(fcTL(0)), idat, ...frame),
    ],
    ['a first fcTL of part of the image', pngOf(acTL, fcTL(0, 160, 160), idat, ...frame)],
    ['a first fcTL off its corner', pngOf(acTL, fcTL(0, 200, 200, 1), idat, ...frame)],
    ['a first fcTL of sequence 1', pngOf(acTL, fcTL(1), idat, ...frame)],
  ])(
    'an APNG with %s and a frame after its IDAT is INVALID_IMAGE: its IDAT is never shown',
    (_, bytes) => {
      expect(() => readDimensions(bytes, 'image/png')).toThrow(
        expect.objectContaining({
          detail: expect.stringMatching(/default image is not its first frame/),
        }),
      );
    },
  );

  it('a TIFF of two pages is INVALID_IMAGE; of one, read', async () => {
    const page = png(200, 160, 6);
    expect(readDimensions(await tiffPages(page), 'image/tiff')).toMatchObject({ width: 200 });
    expect(() => readDimensions(tiff(200, 160), 'image/tiff')).not.toThrow();
    const two = await tiffPages(page, png(200, 160, 7));
    expect(() => readDimensions(two, 'image/tiff')).toThrow(
      expect.objectContaining({ detail: expect.stringMatching(/more than one image/) }),
    );
  });
});
