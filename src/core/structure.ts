import type { ImageMimeType } from '../types.js';

/**
 * Cheap structural walks that catch truncated files and polyglots whose first bytes only look
 * like an image. Each walk jumps from block to block (no decoding) and throws on the first
 * inconsistency; the caller turns that into `INVALID_IMAGE`.
 */
export function checkStructure(bytes: Uint8Array, type: ImageMimeType): void {
  WALKERS[type](bytes);
}

const WALKERS: Readonly<Record<ImageMimeType, (bytes: Uint8Array) => void>> = {
  'image/png': walkPng,
  'image/gif': walkGif,
  'image/jpeg': walkJpeg,
  'image/bmp': checkBmp,
  'image/tiff': checkTiff,
};

function fail(message: string): never {
  throw new Error(message);
}

function u32be(b: Uint8Array, at: number): number {
  if (at + 4 > b.length) fail('truncated');
  return (
    ((b[at] ?? 0) * 0x1000000 + ((b[at + 1] ?? 0) << 16)) |
    ((b[at + 2] ?? 0) << 8) |
    (b[at + 3] ?? 0)
  );
}

/** PNG: signature, then length-prefixed chunks up to IEND, each inside the file. */
function walkPng(b: Uint8Array): void {
  let at = 8;
  let first = true;
  for (;;) {
    const length = u32be(b, at) >>> 0;
    const name = String.fromCharCode(
      b[at + 4] ?? 0,
      b[at + 5] ?? 0,
      b[at + 6] ?? 0,
      b[at + 7] ?? 0,
    );
    if (first && name !== 'IHDR' && name !== 'CgBI') fail('first chunk is not IHDR');
    first = false;
    const next = at + 12 + length;
    if (next > b.length) fail(`chunk ${name} runs past the end`);
    if (name === 'IEND') return;
    at = next;
  }
}

/** GIF: header, screen descriptor, colour table, then blocks up to the trailer (0x3B). */
function walkGif(b: Uint8Array): void {
  if (b.length < 13) fail('truncated');
  const packed = b[10] ?? 0;
  let at = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
  const skipSubBlocks = (): void => {
    for (;;) {
      if (at >= b.length) fail('truncated data sub-blocks');
      const size = b[at] ?? 0;
      at += 1 + size;
      if (size === 0) return;
    }
  };
  for (;;) {
    if (at >= b.length) fail('no trailer');
    const introducer = b[at];
    if (introducer === 0x3b) return;
    if (introducer === 0x21) {
      at += 2;
      skipSubBlocks();
    } else if (introducer === 0x2c) {
      if (at + 10 > b.length) fail('truncated image descriptor');
      const local = b[at + 9] ?? 0;
      at += 10 + (local & 0x80 ? 3 * 2 ** ((local & 0x07) + 1) : 0) + 1;
      skipSubBlocks();
    } else {
      fail(`unexpected block 0x${(introducer ?? 0).toString(16)}`);
    }
  }
}

/** JPEG: SOI, then marker segments with lengths inside the file, up to the first SOS. */
function walkJpeg(b: Uint8Array): void {
  let at = 2;
  for (;;) {
    while (b[at] === 0xff && b[at + 1] === 0xff) at += 1; // fill bytes
    if (at + 4 > b.length) fail('truncated before start of scan');
    if (b[at] !== 0xff) fail('marker expected');
    const marker = b[at + 1] ?? 0;
    if (marker === 0xda) {
      if (at + 4 + 2 > b.length) fail('empty scan');
      return;
    }
    if (marker === 0xd9) fail('end of image before any scan');
    const length = ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0);
    if (length < 2) fail('bad segment length');
    at += 2 + length;
  }
}

/** BMP: the pixel data offset and the declared file size lie inside the bytes we have. */
function checkBmp(b: Uint8Array): void {
  if (b.length < 26) fail('truncated');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const declaredSize = view.getUint32(2, true);
  const pixelOffset = view.getUint32(10, true);
  if (pixelOffset >= b.length) fail('pixel data offset past the end');
  if (declaredSize > b.length) fail('shorter than its declared size');
}

/** TIFF: the first IFD and its entries lie inside the bytes we have. */
function checkTiff(b: Uint8Array): void {
  if (b.length < 8) fail('truncated');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const little = b[0] === 0x49;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > b.length) fail('first IFD past the end');
  const entries = view.getUint16(ifd, little);
  if (ifd + 2 + entries * 12 > b.length) fail('IFD entries past the end');
}
