import * as gifenc from 'gifenc';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { reencode } from '../../../src/core/reencode.js';
import { validateFile } from '../../../src/core/validate-file.js';
import { limitsSchema } from '../../../src/options.js';
import { decodeBmp } from '../../../src/pdq/bmp.js';
import type { ImageMimeType } from '../../../src/types.js';
import { bmp, gif, jpg, pixelFloodPng, png, tiff } from '../../fixtures/images.js';
import { encodeBmpRgba } from '../../fixtures/pdq/bmp-encode.js';

const limits = limitsSchema.parse({});
const validates = (bytes: Buffer) =>
  validateFile({ field: 'f', originalname: 'x', bytes }, limits, 'reject');

type GifModule = typeof gifenc;
const { GIFEncoder } = (
  (gifenc as unknown as { default?: GifModule }).default?.GIFEncoder
    ? (gifenc as unknown as { default: GifModule }).default
    : gifenc
) as GifModule;

/** A two-frame animated GIF (200x200), the frames of different colours. */
function animatedGif(): Buffer {
  const encoder = GIFEncoder();
  const palette = [
    [255, 0, 0],
    [0, 0, 255],
  ];
  encoder.writeFrame(new Uint8Array(200 * 200).fill(0), 200, 200, { palette });
  encoder.writeFrame(new Uint8Array(200 * 200).fill(1), 200, 200, { palette });
  encoder.finish();
  return Buffer.from(encoder.bytes());
}

describe("issue 11 class 4: reencode (sanitize: 'reencode')", () => {
  it.each([
    ['image/jpeg', () => jpg(240, 180, 1), 'image/jpeg'],
    ['image/png', () => png(240, 180, 2), 'image/png'],
    ['image/gif', () => gif(240, 180, 3), 'image/gif'],
    ['image/tiff', () => tiff(240, 180, 4), 'image/tiff'],
    ['image/bmp', () => bmp(240, 180, 5), 'image/png'],
  ] as const)(
    '%s comes out as %s that passes validation with the same size',
    async (type, make, out) => {
      const result = await reencode(make(), type as ImageMimeType, limits.maxPixels);
      expect(result.mimetype).toBe(out);
      await expect(validates(result.bytes)).resolves.toMatchObject({
        mimetype: out,
        width: 240,
        height: 180,
      });
    },
  );

  it('an animated GIF keeps its first frame only', async () => {
    const animated = animatedGif();
    expect((await sharp(animated).metadata()).pages).toBe(2);
    const { bytes } = await reencode(animated, 'image/gif', limits.maxPixels);
    expect((await sharp(bytes).metadata()).pages ?? 1).toBe(1);
    const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[1], data[2]]).toEqual([255, 0, 0]); // the first frame's red
  });

  it('a header over the pixel limit is refused by the decoder, not decoded', async () => {
    await expect(
      reencode(pixelFloodPng(20_000, 20_000), 'image/png', 1_000_000),
    ).rejects.toMatchObject({ code: 'INVALID_IMAGE' });
  });
});

/** `bmp()` with its rows stored top-down (a negative height): the same picture, read the other way. */
function topDown(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  out.writeInt32LE(-out.readInt32LE(22), 22);
  return out;
}

/** A 32-bit BGRX BMP of the same picture (a layout our own decoder reads). */
function bmp32(source: Buffer): Buffer {
  const width = source.readInt32LE(18);
  const height = source.readInt32LE(22);
  const rowSize = Math.ceil((width * 3) / 4) * 4;
  const out = Buffer.alloc(54 + width * 4 * height);
  source.copy(out, 0, 0, 54);
  out.writeUInt32LE(out.length, 2);
  out.writeUInt16LE(32, 28);
  out.writeUInt32LE(width * 4 * height, 34);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      source.copy(
        out,
        54 + (y * width + x) * 4,
        54 + y * rowSize + x * 3,
        54 + y * rowSize + x * 3 + 3,
      );
    }
  return out;
}

describe("issue 11 class 4: BMP to PNG (sanitize: 'reencode')", () => {
  it.each([
    ['24-bit, rows without padding', () => bmp(200, 170, 8)],
    ['24-bit, padded rows', () => bmp(201, 170, 9)],
    ['24-bit, top-down', () => topDown(bmp(203, 170, 10))],
    ['32-bit (our decoder)', () => bmp32(bmp(201, 170, 11))],
  ])('%s: the PNG holds exactly the pixels our BMP decoder reads', async (_, make) => {
    const source = make();
    const expected = decodeBmp(source, limits.maxPixels);
    const { bytes } = await reencode(source, 'image/bmp', limits.maxPixels);
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([
      expected.width,
      expected.height,
      expected.channels,
    ]);
    expect(Buffer.from(data).equals(Buffer.from(expected.data))).toBe(true);
  });

  it('a 32-bit BMP whose alpha browsers draw (V5 alpha mask): the PNG keeps that alpha', async () => {
    const width = 201;
    const height = 170;
    const rgba = new Uint8Array(width * height * 4);
    for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 7 + (i >> 10)) & 0xff;
    const source = encodeBmpRgba(rgba, width, height, { header: 124, compression: 3 });
    const { bytes } = await reencode(source, 'image/bmp', limits.maxPixels);
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    expect(Buffer.from(data).equals(Buffer.from(rgba))).toBe(true);
  });
});
