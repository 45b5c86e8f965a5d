/**
 * The BMP decoder on the variants the guard accepts, and on hostile headers: every failure is a
 * `BmpDecodeError`, and the pixel limit is checked before anything is allocated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BmpDecodeError, decodeBmp } from '../../../src/pdq/bmp.js';
import { encodeBmp } from '../../fixtures/pdq/bmp-encode.js';
import { drawScene } from '../../fixtures/pdq/scene.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/pdq');

/** A BMP with a 40-byte header, `bits` per pixel, the given palette/masks and raw rows. */
function bmp(opts: {
  width: number;
  height: number;
  bits: number;
  compression?: number;
  extra?: Buffer;
  rows: Buffer;
}): Buffer {
  const extra = opts.extra ?? Buffer.alloc(0);
  const offset = 54 + extra.length;
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(offset + opts.rows.length, 2);
  header.writeUInt32LE(offset, 10);
  header.writeUInt32LE(40, 14);
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
