/**
 * A small BMP decoder (sharp cannot read BMP): uncompressed 1/4/8-bit palettized, 16-bit (5-5-5
 * or bit fields), 24-bit and 32-bit (plain or bit fields), bottom-up or top-down. RLE and
 * embedded JPEG/PNG are refused. Every offset is bounds-checked; the pixel count is checked
 * against `maxPixels` before anything is allocated.
 *
 * Alpha is read where browsers draw it, and nowhere else. Chromium (blink `bmp_image_reader.cc`)
 * takes the alpha mask of a BITMAPV3/V4/V5 header (56, 108, 124 bytes) whatever the compression,
 * and the fourth mask of BI_ALPHABITFIELDS; Firefox (`nsBMPDecoder.cpp`) only that of a V4/V5
 * header with BI_BITFIELDS. Both draw it at 16 and 32 bits only, and neither reads a plain
 * 32-bit BMP's fourth byte (padding outside ICO files). Chromium shows an image whose alpha is
 * zero everywhere as opaque (many writers leave it so); Firefox shows it blank, with nothing to
 * hash. So the image comes out opaque (3 channels) when that alpha is 0 everywhere or 255
 * everywhere, and with 4 channels otherwise, its colour channels as stored.
 */
import type { RawImage } from './luma.js';

export class BmpDecodeError extends Error {
  constructor(message: string) {
    super(`BMP: ${message}`);
    this.name = 'BmpDecodeError';
  }
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

interface Mask {
  shift: number;
  max: number;
  mask: number;
}

/** A bit field: its lowest run of ones, as Firefox reads a broken mask (Chromium refuses it). */
function mask(value: number): Mask {
  if (value === 0) return { shift: 0, max: 0, mask: 0 };
  let shift = 0;
  while (((value >>> shift) & 1) === 0) shift++;
  let width = 0;
  while (shift + width < 32 && ((value >>> (shift + width)) & 1) === 1) width++;
  const max = 2 ** width - 1;
  return { shift, max, mask: (max * 2 ** shift) >>> 0 };
}

const channel = (pixel: number, m: Mask) =>
  m.max === 0 ? 0 : Math.round((((pixel & m.mask) >>> m.shift) * 255) / m.max);

/** Info header sizes that hold an alpha mask (at byte 52): BITMAPV3INFOHEADER, V4, V5. */
const ALPHA_MASK_HEADERS = [56, 108, 124];

/**
 * The alpha mask browsers read, if any (see the top of this file). A V3–V5 header's sits at file
 * offset 14 + 52; BI_ALPHABITFIELDS' fourth mask after a 40-byte header at 14 + 40 + 12: the same.
 */
function alphaMask(view: DataView, headerSize: number, compression: number, bits: number) {
  if (bits !== 16 && bits !== 32) return undefined;
  if (!ALPHA_MASK_HEADERS.includes(headerSize) && compression !== BI_ALPHABITFIELDS)
    return undefined;
  if (view.byteLength < 70) throw new BmpDecodeError('truncated alpha mask');
  // A mask outside the pixel's bits draws nothing (Chromium trims it to the depth).
  const m = mask(view.getUint32(66, true) & (bits === 16 ? 0xffff : 0xffffffff));
  return m.max === 0 ? undefined : m;
}

/** BITMAPV5HEADER's colour space type for a profile in the file ('MBED'). */
const PROFILE_EMBEDDED = 0x4d424544;

/**
 * The ICC profile a BITMAPV5HEADER embeds (`bV5CSType` PROFILE_EMBEDDED; `bV5ProfileData`, from
 * the header's start, and `bV5ProfileSize`), which Chromium draws the image through; undefined
 * without one, or when it lies outside the file. Chromium ignores the other colour spaces (a V4 or
 * V5 header's calibrated primaries and gamma), and so does this.
 */
export function bmpProfile(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < 14 + 124) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(14, true) < 124 || view.getUint32(14 + 56, true) !== PROFILE_EMBEDDED) {
    return undefined;
  }
  const start = 14 + view.getUint32(14 + 112, true);
  const end = start + view.getUint32(14 + 116, true);
  return end > start && end <= bytes.length ? bytes.subarray(start, end) : undefined;
}

/** Decodes a BMP into RGB, or RGBA where a browser draws its alpha (see the top of this file). */
export function decodeBmp(bytes: Uint8Array, maxPixels: number): RawImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number, what: string) => {
    if (end > bytes.length) throw new BmpDecodeError(`truncated ${what}`);
  };
  need(26, 'header');
  if (bytes[0] !== 0x42 || bytes[1] !== 0x4d) throw new BmpDecodeError('not a BMP');
  const dataOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  let width: number;
  let signedHeight: number;
  let bits: number;
  let compression = BI_RGB;
  let colorsUsed = 0;
  if (headerSize === 12) {
    width = view.getUint16(18, true);
    signedHeight = view.getInt16(20, true);
    bits = view.getUint16(24, true);
  } else {
    if (headerSize < 40) throw new BmpDecodeError(`unsupported header size ${headerSize}`);
    need(54, 'info header');
    width = view.getInt32(18, true);
    signedHeight = view.getInt32(22, true);
    bits = view.getUint16(28, true);
    compression = view.getUint32(30, true);
    colorsUsed = view.getUint32(46, true);
  }
  const height = Math.abs(signedHeight);
  const topDown = signedHeight < 0;
  if (width <= 0 || height <= 0) throw new BmpDecodeError('empty image');
  if (width * height > maxPixels) throw new BmpDecodeError('more pixels than allowed');
  if (![1, 4, 8, 16, 24, 32].includes(bits)) throw new BmpDecodeError(`unsupported depth ${bits}`);

  let masks: [Mask, Mask, Mask] | undefined;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    if (bits !== 16 && bits !== 32) throw new BmpDecodeError('bit fields need 16 or 32 bits');
    // The masks follow a 40-byte header; V4/V5 headers hold them at the same place.
    const at = 14 + 40;
    need(at + 12, 'bit masks');
    masks = [
      mask(view.getUint32(at, true)),
      mask(view.getUint32(at + 4, true)),
      mask(view.getUint32(at + 8, true)),
    ];
  } else if (compression !== BI_RGB) {
    throw new BmpDecodeError(`unsupported compression ${compression}`);
  } else if (bits === 16) {
    masks = [mask(0x7c00), mask(0x03e0), mask(0x001f)];
  }

  let palette: Uint8Array | undefined;
  if (bits <= 8) {
    const entries = colorsUsed === 0 || colorsUsed > 1 << bits ? 1 << bits : colorsUsed;
    const entrySize = headerSize === 12 ? 3 : 4;
    const at = 14 + headerSize;
    const available = Math.max(0, Math.min(entries, Math.floor((dataOffset - at) / entrySize)));
    need(at + available * entrySize, 'palette');
    palette = new Uint8Array((1 << bits) * 3);
    for (let i = 0; i < available; i++) {
      const p = at + i * entrySize;
      palette[i * 3] = bytes[p + 2] as number;
      palette[i * 3 + 1] = bytes[p + 1] as number;
      palette[i * 3 + 2] = bytes[p] as number;
    }
  }

  const rowSize = Math.ceil((width * bits) / 32) * 4;
  need(dataOffset + rowSize * height, 'pixel data');
  const pixelAt = (row: number, x: number) =>
    bits === 16 ? view.getUint16(row + x * 2, true) : view.getUint32(row + x * 4, true);
  let alpha = alphaMask(view, headerSize, compression, bits);
  if (alpha && !drawsAlpha(alpha, width, height, (y) => dataOffset + y * rowSize, pixelAt)) {
    alpha = undefined;
  }
  const channels = alpha ? 4 : 3;
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * rowSize;
    let o = y * width * channels;
    for (let x = 0; x < width; x++, o += channels) {
      if (palette) {
        const bitOffset = x * bits;
        const byte = bytes[row + (bitOffset >> 3)] as number;
        const index = (byte >> (8 - bits - (bitOffset & 7))) & ((1 << bits) - 1);
        out[o] = palette[index * 3] as number;
        out[o + 1] = palette[index * 3 + 1] as number;
        out[o + 2] = palette[index * 3 + 2] as number;
      } else if (masks) {
        const pixel = pixelAt(row, x);
        out[o] = channel(pixel, masks[0]);
        out[o + 1] = channel(pixel, masks[1]);
        out[o + 2] = channel(pixel, masks[2]);
      } else {
        const p = row + x * (bits / 8);
        out[o] = bytes[p + 2] as number;
        out[o + 1] = bytes[p + 1] as number;
        out[o + 2] = bytes[p] as number;
      }
      if (alpha) out[o + 3] = channel(pixelAt(row, x), alpha);
    }
  }
  return { data: out, width, height, channels };
}

/**
 * Whether the alpha channel shows: some pixel's alpha is not 0 (all 0 shows opaque, or blank)
 * and some pixel's is not 255 (all 255 is opaque).
 */
function drawsAlpha(
  alpha: Mask,
  width: number,
  height: number,
  rowAt: (y: number) => number,
  pixelAt: (row: number, x: number) => number,
): boolean {
  let notZero = false;
  let notOpaque = false;
  for (let y = 0; y < height; y++) {
    const row = rowAt(y);
    for (let x = 0; x < width; x++) {
      const a = channel(pixelAt(row, x), alpha);
      notZero ||= a !== 0;
      notOpaque ||= a !== 255;
      if (notZero && notOpaque) return true;
    }
  }
  return false;
}
