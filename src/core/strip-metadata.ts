/**
 * `sanitize: 'metadata'`: lossless removal of the blocks that carry metadata (or anything else
 * hidden beside the pixels), found by the validator's own structure walk (`walkBlocks`). Pure:
 * bytes in, bytes out. The pixels, palettes, colour information and animation are kept as they
 * are; what goes:
 * - PNG: every ancillary chunk but tRNS, gAMA, cHRM, sRGB, iCCP, sBIT, pHYs, bKGD and APNG's
 *   acTL, fcTL, fdAT (so tEXt, zTXt, iTXt, eXIf, tIME and every private or unknown chunk), and
 *   any critical chunk but IHDR, PLTE, IDAT, IEND (and Apple's CgBI).
 * - JPEG, up to the first scan: APPn segments but a JFIF APP0 without thumbnail, an ICC APP2
 *   and an Adobe APP14 (so EXIF, with its GPS position, thumbnails and orientation, XMP,
 *   Photoshop IRB, MPF), and COM segments. Segments after the first scan (between the scans
 *   of a progressive JPEG, or after a scan before EOI) stay (the walk never reads entropy-coded
 *   data): 'reencode' drops those too.
 * - GIF: comment, plain-text and application extensions but the NETSCAPE2.0 loop count.
 * - TIFF and BMP: nothing (their metadata sits inside the structure the pixels need).
 * Bytes after the image's end never survive.
 */
import type { ImageMimeType } from '../types.js';
import { walkBlocks } from './structure.js';

type Keep = (bytes: Buffer, kind: number, start: number, end: number) => boolean;

const chunk = (name: string) => Buffer.from(name, 'latin1').readUInt32BE(0);
const PNG_CRITICAL = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND', 'CgBI'].map(chunk));
const PNG_SAFE = new Set(
  ['tRNS', 'gAMA', 'cHRM', 'sRGB', 'iCCP', 'sBIT', 'pHYs', 'bKGD', 'acTL', 'fcTL', 'fdAT'].map(
    chunk,
  ),
);

const keepPng: Keep = (_, kind) => PNG_CRITICAL.has(kind) || PNG_SAFE.has(kind);

/** `true` when `bytes` hold `id` at `at`. */
function startsWith(bytes: Buffer, at: number, id: string): boolean {
  return bytes.toString('latin1', at, at + id.length) === id;
}

const APP0 = 0xe0;
const APP2 = 0xe2;
const APP14 = 0xee;
const COM = 0xfe;
/** A JFIF APP0 segment without thumbnail: marker, length 16, `JFIF\0`, 9 bytes of fields. */
const JFIF_SEGMENT = 18;

const keepJpeg: Keep = (bytes, marker, start, end) => {
  const body = start + 4;
  if (marker === APP0) return end - start === JFIF_SEGMENT && startsWith(bytes, body, 'JFIF\0');
  if (marker === APP2) return startsWith(bytes, body, 'ICC_PROFILE\0');
  if (marker === APP14) return startsWith(bytes, body, 'Adobe');
  return !(marker > APP0 && marker <= 0xef) && marker !== COM;
};

const GRAPHIC_CONTROL = 0x21f9;
const APPLICATION = 0x21ff;
/** NETSCAPE2.0 looping: 0x21 0xFF 0x0B "NETSCAPE2.0" 0x03 0x01 count(2) 0x00. */
const NETSCAPE_BLOCK = 19;

const keepGif: Keep = (bytes, kind, start, end) => {
  if (kind === 0x2c || kind === GRAPHIC_CONTROL) return true;
  return (
    kind === APPLICATION &&
    end - start === NETSCAPE_BLOCK &&
    bytes[start + 2] === 11 &&
    startsWith(bytes, start + 3, 'NETSCAPE2.0')
  );
};

const KEEP: Partial<Record<ImageMimeType, Keep>> = {
  'image/png': keepPng,
  'image/jpeg': keepJpeg,
  'image/gif': keepGif,
};

/**
 * The image without its metadata blocks; `bytes` itself when there is nothing to drop. `bytes`
 * must have passed validation as `type` (the walk throws on anything else).
 */
export function stripMetadata(bytes: Buffer, type: ImageMimeType): Buffer {
  const keep = KEEP[type];
  if (!keep) return bytes;
  const parts: Buffer[] = [];
  let from = 0;
  const { end } = walkBlocks(bytes, type, (kind, start, blockEnd) => {
    if (keep(bytes, kind, start, blockEnd)) return;
    if (start > from) parts.push(bytes.subarray(from, start));
    from = blockEnd;
  });
  if (from === 0 && end === bytes.length) return bytes;
  parts.push(bytes.subarray(from, end));
  return Buffer.concat(parts);
}
