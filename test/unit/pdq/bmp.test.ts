/**
 * The BMP decoder on the variants the guard accepts, and on hostile headers: every failure is a
 * `BmpDecodeError`, and the pixel limit is checked before anything is allocated. Alpha comes out
 * exactly where browsers draw it (blink bmp_image_reader.cc, Firefox nsBMPDecoder.cpp).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BmpDecodeError, bmpProfile, decodeBmp } from '../../../src/pdq/bmp.js';
import { pdqHash } from '../../../src/pdq/index.js';
import { encodeBmp, encodeBmpRgba } from '../../fixtures/pdq/bmp-encode.js';
import { drawScene } from '../../fixtures/pdq/scene.js';
import { bmpWithProfile } from '../../fixtures/shown-otherwise.js';
import { REFERENCE } from './reference-hashes.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/pdq');

/**
 * A BMP with a 40-byte header (or `headerSize`, its masks R, G, B, A at byte 40 of it), `bits`
 * per pixel, the given palette/masks after the header and raw rows.
 */
function bmp(opts: {
  width: number;
  height: number;
  bits: number;
  compression?: number;
  headerSize?: number;
  headerMasks?: number[];
  extra?: Buffer;
  rows: Buffer;
}): Buffer {
  const extra = opts.extra ?? Buffer.alloc(0);
  const headerSize = opts.headerSize ?? 40;
  const offset = 14 + headerSize + extra.length;
  const header = Buffer.alloc(14 + headerSize);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(offset + opts.rows.length, 2);
  header.writeUInt32LE(offset, 10);
  header.writeUInt32LE(headerSize, 14);
  for (const [i, m] of (opts.headerMasks ?? []).entries()) header.writeUInt32LE(m, 54 + i * 4);
  header.writeInt32LE(opts.width, 18);
  header.writeInt32LE(opts.height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(opts.bits, 28);
  header.writeUInt32LE(opts.compression ?? 0, 30);
  return Buffer.concat([header, extra, opts.rows]);
}

describe('decodeBmp', () => {
  it('decodes the fixtures (24-bit, 32-bit top-down, 8-bit palettized) to the drawn pixels', () => {
    const scene = drawScene(4, 160, 120);
    for (const variant of ['rgb24', 'rgb32-top-down', 'pal8'] as const) {
      const decoded = decodeBmp(readFileSync(join(FIXTURES, `scene4-${variant}.bmp`)), 1e8);
      expect(decoded).toMatchObject({ width: 160, height: 120, channels: 3 });
      expect(Buffer.from(decoded.data).equals(Buffer.from(encodeBmp(scene, variant).rgb))).toBe(
        true,
      );
    }
  });

  it('decodes 1-bit palettized, 16-bit 5-5-5 and 32-bit bit-field pixels', () => {
    // 1-bit, 2x2, bottom-up: palette black, white; bottom row "10", top row "01".
    const palette = Buffer.from([0, 0, 0, 0, 255, 255, 255, 0]);
    const one = bmp({
      width: 2,
      height: 2,
      bits: 1,
      extra: palette,
      rows: Buffer.from([0b10000000, 0, 0, 0, 0b01000000, 0, 0, 0]),
    });
    expect([...decodeBmp(one, 100).data]).toEqual([0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0]);
    // 16-bit 5-5-5: pure red (0x7c00) and pure blue (0x001f).
    const sixteen = bmp({
      width: 2,
      height: 1,
      bits: 16,
      rows: Buffer.from([0x00, 0x7c, 0x1f, 0x00]),
    });
    expect([...decodeBmp(sixteen, 100).data]).toEqual([255, 0, 0, 0, 0, 255]);
    // 32-bit bit fields, masks R=0x0000ff00, G=0x00ff0000, B=0xff000000.
    const masks = Buffer.alloc(12);
    masks.writeUInt32LE(0x0000ff00, 0);
    masks.writeUInt32LE(0x00ff0000, 4);
    masks.writeUInt32LE(0xff000000, 8);
    const fields = bmp({
      width: 1,
      height: 1,
      bits: 32,
      compression: 3,
      extra: masks,
      rows: Buffer.from([0, 10, 20, 30]),
    });
    expect([...decodeBmp(fields, 100).data]).toEqual([10, 20, 30]);
  });

  it('refuses hostile and unsupported files with BmpDecodeError', () => {
    const good = readFileSync(join(FIXTURES, 'scene4-rgb24.bmp'));
    const cases: Array<[string, Buffer]> = [
      ['truncated pixels', good.subarray(0, good.length - 100)],
      ['truncated header', good.subarray(0, 20)],
      ['not a BMP', Buffer.from('GIF89a................................................')],
      ['RLE8', bmp({ width: 2, height: 2, bits: 8, compression: 1, rows: Buffer.alloc(8) })],
      ['zero width', bmp({ width: 0, height: 2, bits: 24, rows: Buffer.alloc(0) })],
      ['odd depth', bmp({ width: 1, height: 1, bits: 7, rows: Buffer.alloc(4) })],
    ];
    for (const [what, bytes] of cases) {
      expect(() => decodeBmp(bytes, 1e8), what).toThrow(BmpDecodeError);
    }
  });

  it('checks the pixel limit before allocating (a 2^31-pixel header in 60 bytes)', () => {
    const flood = bmp({ width: 65_536, height: 32_768, bits: 24, rows: Buffer.alloc(6) });
    expect(() => decodeBmp(flood, 100_000_000)).toThrow(/more pixels than allowed/);
  });
});

describe('decodeBmp: alpha where browsers draw it', () => {
  // Two pixels, left to right: a transparent one and a half-transparent one.
  const rgba = new Uint8Array([10, 20, 30, 0, 40, 50, 60, 128]);

  it('keeps the alpha of a V3, V4 or V5 mask or of BI_ALPHABITFIELDS, the colours as stored', () => {
    for (const layout of [
      { header: 56, compression: 0 },
      { header: 108, compression: 0 },
      { header: 124, compression: 3 },
      { header: 40, compression: 6 },
    ] as const) {
      const decoded = decodeBmp(encodeBmpRgba(rgba, 2, 1, layout), 100);
      expect(decoded.channels, JSON.stringify(layout)).toBe(4);
      expect([...decoded.data], JSON.stringify(layout)).toEqual([...rgba]);
    }
  });

  it('reads a 16-bit alpha mask, and none outside the pixel bits', () => {
    // A1R5G5B5 in a V4 header: opaque red, transparent blue.
    const rows = Buffer.from([0x00, 0xfc, 0x1f, 0x00]);
    const masks = [0x7c00, 0x03e0, 0x001f];
    const argb = bmp({
      width: 2,
      height: 1,
      bits: 16,
      compression: 3,
      headerSize: 108,
      headerMasks: [...masks, 0x8000],
      rows,
    });
    expect(decodeBmp(argb, 100)).toMatchObject({ channels: 4 });
    expect([...decodeBmp(argb, 100).data]).toEqual([255, 0, 0, 255, 0, 0, 255, 0]);
    const outside = bmp({
      width: 2,
      height: 1,
      bits: 16,
      compression: 3,
      headerSize: 108,
      headerMasks: [...masks, 0xff000000],
      rows,
    });
    expect([...decodeBmp(outside, 100).data]).toEqual([255, 0, 0, 0, 0, 255]);
  });

  it('stays opaque where no browser reads the fourth byte (a 40-byte header, BI_RGB or BI_BITFIELDS)', () => {
    for (const compression of [0, 3] as const) {
      const decoded = decodeBmp(encodeBmpRgba(rgba, 2, 1, { header: 40, compression }), 100);
      expect(decoded.channels).toBe(3);
      expect([...decoded.data]).toEqual([10, 20, 30, 40, 50, 60]);
    }
  });

  it('shows an alpha channel of zeros everywhere (or of 255s) opaque: the hash is the reference', async () => {
    // A plain 32-bit BMP whose fourth bytes are all 0 (what many writers leave there), and the
    // same pixels in a V5 header whose alpha mask reads those zeros: both opaque, as shown.
    const reference = REFERENCE.find((r) => r.file === 'scene4-rgb32-top-down.bmp');
    const plain = Buffer.from(readFileSync(join(FIXTURES, 'scene4-rgb32-top-down.bmp')));
    const offset = plain.readUInt32LE(10);
    for (let p = offset + 3; p < plain.length; p += 4) plain[p] = 0;
    const { rgb, width, height } = drawScene(4, 160, 120);
    const scene = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) scene.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
    const zeros = encodeBmpRgba(scene, width, height, { header: 124, compression: 3 });
    for (let i = 0; i < width * height; i++) scene[i * 4 + 3] = 255;
    const opaque = encodeBmpRgba(scene, width, height, { header: 124, compression: 3 });
    for (const bytes of [plain, zeros, opaque]) {
      expect(decodeBmp(bytes, 1e8).channels).toBe(3);
      const result = await pdqHash(bytes, { pool: false });
      expect(result).toEqual({ hash: reference?.dihedral[0], quality: reference?.quality });
    }
  });
});

describe('bmpProfile: the ICC profile a V5 header embeds, which Chromium draws through', () => {
  const profile = Buffer.from('an ICC profile, as far as this reader cares');
  const rgb = Buffer.alloc(4 * 2 * 3, 90);
  const withProfile = () => bmpWithProfile(rgb, 4, 2, profile);

  it('reads the profile a V5 header points at (offset from the header, size)', () => {
    expect(Buffer.from(bmpProfile(withProfile()) as Uint8Array)).toEqual(profile);
    expect(decodeBmp(withProfile(), 8)).toMatchObject({ width: 4, height: 2, channels: 3 });
  });

  it('reads none from other colour spaces, other headers, or a profile outside the file', () => {
    const srgb = withProfile();
    srgb.writeUInt32LE(0x73524742, 14 + 56); // LCS_sRGB
    const linked = withProfile();
    linked.writeUInt32LE(0x4c494e4b, 14 + 56); // PROFILE_LINKED: a file name
    const v4 = withProfile();
    v4.writeUInt32LE(108, 14);
    const beyond = withProfile();
    beyond.writeUInt32LE(beyond.length, 14 + 112);
    const empty = withProfile();
    empty.writeUInt32LE(0, 14 + 116);
    for (const file of [srgb, linked, v4, beyond, empty]) expect(bmpProfile(file)).toBeUndefined();
    expect(bmpProfile(withProfile().subarray(0, 100))).toBeUndefined();
  });
});
