import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { stripMetadata } from '../../../src/core/strip-metadata.js';
import { validateFile } from '../../../src/core/validate-file.js';
import { limitsSchema } from '../../../src/options.js';
import { sharpInstalled } from '../../../src/pdq/load-sharp.js';
import { bmp, gif, jpg, png, tiff } from '../../fixtures/images.js';
import {
  exifSegment,
  gifExtension,
  jpegSegment,
  netscapeLoop,
  pngChunk,
  withGifBlocks,
  withJpegSegments,
  withPngChunks,
} from '../../fixtures/metadata.js';

const limits = limitsSchema.parse({});
const validates = (bytes: Buffer) =>
  validateFile({ field: 'f', originalname: 'x', bytes }, limits, 'reject');

describe('issue 11 class 4: stripMetadata (sanitize: metadata)', () => {
  it('PNG: drops text, time, EXIF and private chunks (a whole hidden image) and keeps the safe set', async () => {
    const clean = png(200, 200, 1);
    const safe = [
      pngChunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f])),
      pngChunk('pHYs', Buffer.from([0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1])),
    ];
    const hidden = png(200, 200, 2);
    const loaded = withPngChunks(clean, [
      safe[0] as Buffer,
      pngChunk('tEXt', Buffer.from('Comment\0secret', 'latin1')),
      pngChunk('iTXt', Buffer.from('XML:com.adobe.xmp\0\0\0\0\0<x/>', 'latin1')),
      pngChunk('tIME', Buffer.from([7, 0xea, 11, 30, 3, 0, 0])),
      pngChunk('eXIf', exifSegment().subarray(10)),
      pngChunk('prVt', hidden),
      pngChunk('ZZZZ', Buffer.from('unknown critical')),
      safe[1] as Buffer,
    ]);
    const out = stripMetadata(loaded, 'image/png');
    expect(out.equals(withPngChunks(clean, safe))).toBe(true);
    expect(out.includes(hidden)).toBe(false);
    expect(out.includes(Buffer.from('secret'))).toBe(false);
    await expect(validates(out)).resolves.toMatchObject({ width: 200, height: 200 });
  });

  it('PNG: a file with nothing to drop is returned as is (same buffer)', () => {
    const clean = png();
    expect(stripMetadata(clean, 'image/png')).toBe(clean);
  });

  it('PNG: keeps APNG animation chunks (acTL, fcTL, fdAT)', () => {
    const anim = [
      pngChunk('acTL', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])),
      pngChunk('fcTL', Buffer.alloc(26)),
    ];
    const animated = withPngChunks(png(), anim);
    expect(stripMetadata(animated, 'image/png')).toBe(animated);
  });

  it('JPEG: drops EXIF (GPS, orientation), XMP, comments and a JFIF thumbnail; keeps JFIF, ICC and Adobe', async () => {
    const base = jpg(200, 200, 3);
    const jfif = jpegSegment(
      0xe0,
      Buffer.from([0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    );
    const icc = jpegSegment(0xe2, Buffer.from('ICC_PROFILE\0\x01\x01profile', 'latin1'));
    const adobe = jpegSegment(0xee, Buffer.from('Adobe\0\x64\0\0\0\0\x01', 'latin1'));
    // A JPEG of our own: SOI, kept and dropped segments, then the encoder's tables and scan.
    const body = base.subarray(base.indexOf(Buffer.from([0xff, 0xdb])));
    const soi = Buffer.from([0xff, 0xd8]);
    const kept = Buffer.concat([soi, jfif, icc, adobe, body]);
    const loaded = Buffer.concat([
      soi,
      jfif,
      exifSegment(6),
      jpegSegment(0xe1, Buffer.from('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>', 'latin1')),
      icc,
      jpegSegment(0xfe, Buffer.from('a comment', 'latin1')),
      adobe,
      jpegSegment(0xed, Buffer.from('Photoshop 3.0\0', 'latin1')),
      body,
    ]);
    const out = stripMetadata(loaded, 'image/jpeg');
    expect(out.equals(kept)).toBe(true);
    const meta = await sharp(out).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    // A JFIF APP0 with a thumbnail (longer than 16 bytes) goes too.
    const thumb = jpegSegment(
      0xe0,
      Buffer.concat([
        Buffer.from([0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1]),
        png(1, 1),
      ]),
    );
    const withThumb = Buffer.concat([soi, thumb, body]);
    expect(stripMetadata(withThumb, 'image/jpeg').equals(Buffer.concat([soi, body]))).toBe(true);
  });

  it('JPEG: the EXIF block of a camera file goes; the rest is the file byte for byte', () => {
    const clean = jpg(200, 200, 6);
    const out = stripMetadata(withJpegSegments(clean, [exifSegment(3)]), 'image/jpeg');
    expect(out.equals(clean)).toBe(true);
  });

  it('JPEG: bytes after EOI never survive', () => {
    const clean = jpg();
    const out = stripMetadata(Buffer.concat([clean, png()]), 'image/jpeg');
    expect(out.equals(clean)).toBe(true);
  });

  it('GIF: drops comment, plain-text and foreign application extensions, keeps NETSCAPE2.0 looping', async () => {
    const clean = gif(200, 200, 4);
    const hidden = png(200, 200, 5);
    const loaded = withGifBlocks(clean, [
      netscapeLoop(),
      gifExtension(0xfe, Buffer.from('a comment')),
      gifExtension(0xff, hidden, Buffer.from('XMP DataXMP', 'latin1')),
      gifExtension(0x01, Buffer.alloc(20, 0x41), Buffer.alloc(12)),
    ]);
    const out = stripMetadata(loaded, 'image/gif');
    expect(out.equals(withGifBlocks(clean, [netscapeLoop()]))).toBe(true);
    // A "NETSCAPE2.0" block carrying more than its loop count is not a loop extension.
    const smuggler = gifExtension(0xff, hidden, Buffer.from('NETSCAPE2.0', 'latin1'));
    expect(stripMetadata(withGifBlocks(clean, [smuggler]), 'image/gif').equals(clean)).toBe(true);
    await expect(validates(out)).resolves.toMatchObject({ mimetype: 'image/gif' });
  });

  it('TIFF and BMP are handed on as they are', () => {
    for (const [bytes, type] of [
      [tiff(), 'image/tiff'],
      [bmp(), 'image/bmp'],
    ] as const) {
      expect(stripMetadata(bytes, type)).toBe(bytes);
    }
  });

  it("sharpInstalled: found here; a resolver that cannot find it says no (the option check's answer)", () => {
    expect(sharpInstalled()).toBe(true);
    expect(
      sharpInstalled(() => {
        throw Object.assign(new Error("Cannot find module 'sharp'"), { code: 'MODULE_NOT_FOUND' });
      }),
    ).toBe(false);
  });
});
