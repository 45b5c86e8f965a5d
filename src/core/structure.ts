import type { ImageMimeType } from '../types.js';
import { chunkCrcHolds } from './png-chunk.js';

/** Width and height as the image's own header states them (not yet checked to be positive). */
export interface HeaderSize {
  width: number;
  height: number;
  /**
   * Where the image ends: after PNG's IEND, GIF's trailer, JPEG's EOI (the first after the
   * first scan), BMP's declared size. TIFF has no end marker: its length. Bytes past it are
   * trailing data (a second file appended, a polyglot's payload).
   */
  end: number;
}

/**
 * Cheap structural walks that catch truncated files and polyglots whose first bytes only look
 * like an image, and that bound the work of validation by a small constant per file: each walk
 * jumps from block to block (no decoding, never a byte-by-byte search, never entropy-coded data),
 * takes at most `MAX_STEPS` jumps, and refuses layouts a real encoder never writes. The size is
 * read from the header the walk found, so no reader ever sees more than the headers (SPEC section
 * 4: image-size walks a JPEG's scan data byte by byte). Every read is bounds-checked against the
 * view's own length, so a pooled Buffer slice cannot leak the bytes after it.
 * The caller turns any throw into `INVALID_IMAGE`.
 */
export function readHeader(bytes: Uint8Array, type: ImageMimeType): HeaderSize {
  return WALKERS[type](bytes);
}

/**
 * Called for each block a walk jumps over, in order: its kind (a PNG chunk's type as a 32-bit
 * number, a JPEG segment's marker byte, a GIF block's introducer or `0x2100 | label` for an
 * extension) and the bytes it spans, from its first byte to the next block's. JPEG segments are
 * reported up to the first scan, GIF's header and colour table and the BMP and TIFF walks never.
 */
export type BlockVisitor = (kind: number, start: number, end: number) => void;

/** `readHeader`, telling `visit` of every block on the way (the same walk, the same budget). */
export function walkBlocks(
  bytes: Uint8Array,
  type: ImageMimeType,
  visit: BlockVisitor,
): HeaderSize {
  return WALKERS[type](bytes, visit);
}

/**
 * Most blocks, chunks, segments or IFD entries one file may have. A 4 MiB PNG written in 8 KiB
 * IDAT chunks has ~520 chunks, a 4 MiB GIF in 255-byte sub-blocks ~16,500: a file needing more
 * than this many jumps is crafted, and the walk stops after a bounded, tiny amount of work.
 */
export const MAX_STEPS = 65_536;

const WALKERS: Readonly<
  Record<ImageMimeType, (bytes: Uint8Array, visit?: BlockVisitor) => HeaderSize>
> = {
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

function u16be(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) fail('truncated');
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

function u16le(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) fail('truncated');
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}

/** Counts jumps of one walk and stops it when a file needs more than any real encoder writes. */
class StepBudget {
  private left = MAX_STEPS;
  take(): void {
    this.left -= 1;
    if (this.left < 0) fail(`more than ${MAX_STEPS} blocks`);
  }
}

const IHDR = 0x49484452;
const CGBI = 0x43674249;
const IEND = 0x49454e44;
const IDAT = 0x49444154;
const ACTL = 0x6163544c;
const FCTL = 0x6663544c;

/**
 * PNG: signature, IHDR first (after Apple's CgBI), then length-prefixed chunks up to IEND. An
 * APNG whose default image (IDAT) is not its first frame is refused: an acTL before the first
 * IDAT, no first frame's fcTL between them, and a frame after it. Every APNG viewer shows such a
 * file's fdAT frames alone, never the IDAT image, which is all PhotoDNA and other decoders see.
 */
function walkPng(b: Uint8Array, visit?: BlockVisitor): HeaderSize {
  const budget = new StepBudget();
  let at = 8;
  let size: { width: number; height: number } | undefined;
  let animated = false; // an acTL came before the first IDAT
  let idatFramed = false; // ... and the first frame's fcTL after it, before the first IDAT
  let idatSeen = false;
  for (;;) {
    budget.take();
    const length = u32be(b, at) >>> 0;
    const name = u32be(b, at + 4) >>> 0;
    const next = at + 12 + length;
    if (next > b.length) fail('a chunk runs past the end');
    if (!size) {
      const cgbi = at === 8 && name === CGBI;
      if (!cgbi && (name !== IHDR || length !== 13)) fail('first chunk is not IHDR');
      if (!cgbi) size = { width: u32be(b, at + 8) >>> 0, height: u32be(b, at + 12) >>> 0 };
    }
    if (name === IDAT) idatSeen = true;
    else if (name === ACTL && !idatSeen) animated = true;
    else if (name === FCTL && animated) {
      if (!idatSeen) idatFramed ||= isWholeFirstFrame(b, at, length, size);
      else if (!idatFramed) fail('an APNG whose default image is not its first frame');
    }
    visit?.(name, at, next);
    if (name === IEND) {
      if (!size) fail('no IHDR');
      return { width: size.width, height: size.height, end: next }; // a literal: no spread
    }
    at = next;
  }
}

/**
 * Whether the fcTL chunk at `at` makes the IDAT image an APNG's first frame: sequence number 0,
 * the whole image (IHDR's size at 0,0) and an intact CRC. Chromium skips an fcTL with a wrong CRC
 * (the IDAT image is then not a frame) and refuses the file for the rest, but other viewers may
 * skip more: anything less counts as no first frame.
 */
function isWholeFirstFrame(
  b: Uint8Array,
  at: number,
  length: number,
  size: { width: number; height: number } | undefined,
): boolean {
  if (length !== 26 || !size) return false;
  const field = (i: number) => u32be(b, at + 8 + i * 4) >>> 0;
  const whole =
    field(0) === 0 &&
    field(1) === size.width &&
    field(2) === size.height &&
    field(3) === 0 &&
    field(4) === 0;
  return whole && chunkCrcHolds(b, at, length);
}

/** GIF: header, screen descriptor, colour table, then blocks up to the trailer (0x3B). */
function walkGif(b: Uint8Array, visit?: BlockVisitor): HeaderSize {
  if (b.length < 13) fail('truncated');
  const budget = new StepBudget();
  const packed = b[10] ?? 0;
  let at = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
  const skipSubBlocks = (): void => {
    for (;;) {
      budget.take();
      if (at >= b.length) fail('truncated data sub-blocks');
      const size = b[at] ?? 0;
      at += 1 + size;
      if (size === 0) return;
    }
  };
  for (;;) {
    budget.take();
    if (at >= b.length) fail('no trailer');
    const introducer = b[at];
    if (introducer === 0x3b) return { width: u16le(b, 6), height: u16le(b, 8), end: at + 1 };
    const start = at;
    if (introducer === 0x21) {
      at += 2;
      skipSubBlocks();
      visit?.(0x2100 | (b[start + 1] ?? 0), start, at);
    } else if (introducer === 0x2c) {
      if (at + 10 > b.length) fail('truncated image descriptor');
      const local = b[at + 9] ?? 0;
      at += 10 + (local & 0x80 ? 3 * 2 ** ((local & 0x07) + 1) : 0) + 1;
      skipSubBlocks();
      visit?.(0x2c, start, at);
    } else {
      fail(`unexpected block 0x${(introducer ?? 0).toString(16)}`);
    }
  }
}

/** Start-of-frame markers (C0–CF but DHT C4, JPG C8 and DAC CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * JPEG: SOI, then marker segments, each with a length inside the file, up to the first SOS; a
 * frame header (SOF) must come before it, as every encoder writes it. Entropy-coded data is never
 * read.
 */
function walkJpeg(b: Uint8Array, visit?: BlockVisitor): HeaderSize {
  const budget = new StepBudget();
  let at = 2;
  let frame: { width: number; height: number } | undefined;
  for (;;) {
    budget.take();
    if (b[at] === 0xff && b[at + 1] === 0xff) {
      at += 1; // a fill byte, one jump each
      continue;
    }
    if (at + 4 > b.length) fail('truncated before start of scan');
    if (b[at] !== 0xff) fail('marker expected');
    const marker = b[at + 1] ?? 0;
    if (marker === 0xda) {
      if (!frame) fail('start of scan before any frame header');
      if (at + 4 + 2 > b.length) fail('empty scan');
      return { width: frame.width, height: frame.height, end: jpegEnd(b, at) };
    }
    if (marker === 0xd9) fail('end of image before any scan');
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      fail(`marker 0x${marker.toString(16)} before the first scan`);
    }
    const length = ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0);
    if (length < 2) fail('bad segment length');
    if (isStartOfFrame(marker)) {
      if (frame) fail('a second frame header');
      if (length < 8 || at + 2 + length > b.length) fail('truncated frame header');
      // SOFn: length, precision, then height and width (big-endian).
      frame = { height: u16be(b, at + 5), width: u16be(b, at + 7) };
    }
    visit?.(marker, at, at + 2 + length);
    at += 2 + length;
  }
}

/**
 * Lone 0xD9 bytes (not after 0xFF) searched one by one before a plain loop takes over: real scan
 * data holds about one per 256-550 bytes, below this budget; denser data is crafted.
 */
function loneD9Budget(length: number): number {
  return Math.max(4096, length >> 7);
}

/**
 * The end of a JPEG: after the first EOI marker (0xFF 0xD9) past the first scan (entropy-coded
 * data never holds that pair: a 0xFF there is stuffed or a restart marker). A JPEG without EOI
 * ends where its bytes do. memchr for 0xD9, then a look at the byte before: on real scan data
 * five times faster than Buffer's two-byte search, which also costs 11 ms per 4 MiB on crafted
 * data (0xFF 0x00 0xD9 repeated). Data denser in lone 0xD9 than any encoder writes gets one plain
 * pass instead (at most about 1.5 ns a byte), so the work stays linear whatever the bytes.
 */
function jpegEnd(b: Uint8Array, firstScan: number): number {
  const buffer = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const budget = loneD9Budget(b.length);
  let at = firstScan + 1;
  for (let lone = 0; lone < budget; lone++) {
    at = buffer.indexOf(0xd9, at);
    if (at === -1) return b.length;
    if (b[at - 1] === 0xff) return at + 1;
    at += 1;
  }
  // One pass from the last lone 0xD9 on: a 0xFF is looked at with the byte after it.
  const last = b.length - 1;
  let i = at;
  while (i < last) {
    if (b[i] !== 0xff) i += 1;
    else if (b[i + 1] === 0xd9) return i + 2;
    else i += b[i + 1] === 0xff ? 1 : 2;
  }
  return b.length;
}

/** BMP: fixed headers; the pixel data offset and the declared file size lie inside the bytes. */
function checkBmp(b: Uint8Array): HeaderSize {
  if (b.length < 26) fail('truncated');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const declaredSize = view.getUint32(2, true);
  const pixelOffset = view.getUint32(10, true);
  if (pixelOffset >= b.length) fail('pixel data offset past the end');
  if (declaredSize > b.length) fail('shorter than its declared size');
  const infoSize = view.getUint32(14, true);
  // OS/2 BITMAPCOREHEADER has 16-bit sizes; the Windows headers 32-bit, a negative height = top-down.
  const end = declaredSize > pixelOffset ? declaredSize : b.length;
  if (infoSize === 12) {
    return { width: view.getUint16(18, true), height: view.getUint16(20, true), end };
  }
  if (infoSize < 40 || 14 + infoSize > pixelOffset) fail('unknown info header');
  return { width: view.getInt32(18, true), height: Math.abs(view.getInt32(22, true)), end };
}

/** Entries one IFD may hold: baseline TIFF needs about 15, camera files a few dozen. */
const MAX_IFD_ENTRIES = 1024;

/**
 * TIFF (classic, not BigTIFF, which no 4 MiB file needs): the first IFD, its entry count and
 * its next-IFD offset lie inside the file, and that offset is 0: a TIFF of one image (page). Only
 * that IFD is read, so the walk is one jump.
 */
function checkTiff(b: Uint8Array): HeaderSize {
  if (b.length < 8) fail('truncated');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const little = b[0] === 0x49;
  if (view.getUint16(2, little) !== 42) fail('not a classic TIFF');
  const ifd = view.getUint32(4, little);
  if (ifd < 8 || ifd + 2 > b.length) fail('first IFD past the end');
  const entries = view.getUint16(ifd, little);
  if (entries === 0 || entries > MAX_IFD_ENTRIES) fail(`${entries} IFD entries`);
  if (ifd + 2 + entries * 12 + 4 > b.length) fail('IFD entries past the end');
  // A second page, which viewers page to (and thumbnailers of every page show) unchecked.
  if (view.getUint32(ifd + 2 + entries * 12, little) !== 0) fail('more than one image (IFD)');
  const tags = new Map<number, number>();
  for (let i = 0; i < entries; i++) {
    const at = ifd + 2 + i * 12;
    const tag = view.getUint16(at, little);
    if (tag !== 256 && tag !== 257) continue;
    const type = view.getUint16(at + 2, little);
    if (view.getUint32(at + 4, little) !== 1) fail('image size with a count other than 1');
    if (type === 3) tags.set(tag, view.getUint16(at + 8, little));
    else if (type === 4) tags.set(tag, view.getUint32(at + 8, little));
    else fail('image size neither SHORT nor LONG');
  }
  return { width: tags.get(256) ?? 0, height: tags.get(257) ?? 0, end: b.length };
}
