import { fileTypeFromBuffer } from 'file-type';
import { GuardError } from '../errors.js';
import type { ImageMimeType } from '../types.js';

/**
 * file-type's answer for each accepted image. APNG is a PNG to PhotoDNA; TIFF-based camera RAW
 * (`cr2`, `nef`, `arw`, `dng`...) is reported under its own name and so is not accepted.
 */
const ACCEPTED: Readonly<Record<string, ImageMimeType>> = {
  gif: 'image/gif',
  jpg: 'image/jpeg',
  png: 'image/png',
  apng: 'image/png',
  bmp: 'image/bmp',
  tif: 'image/tiff',
};

/** Bytes file-type is given first: its own sample size for streams, enough for every signature. */
const SNIFF_BYTES = 4100;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

/**
 * The type of a JPEG, PNG, GIF or BMP from its first bytes, without file-type: the same answer
 * file-type gives (its first matching signatures for these four, in its order: 'BM', 'GIF',
 * FF D8 FF but JPEG-LS), at no promise and no await (its reader costs ~6 µs and a chain of
 * awaits per file, issue 16). PNG is told by its signature alone: file-type walks a PNG's chunks
 * one awaited read at a time to tell APNG from PNG (milliseconds for a crafted file of empty
 * chunks), and both are 'image/png' to us. Undefined for anything else: TIFF (told apart from
 * camera RAW by file-type) and every unknown type are file-type's.
 */
export function knownImageType(b: Uint8Array): ImageMimeType | undefined {
  const first = b[0];
  if (first === 0x42) return b[1] === 0x4d ? 'image/bmp' : undefined;
  if (first === 0x47) return b[1] === 0x49 && b[2] === 0x46 ? 'image/gif' : undefined;
  if (first === 0xff) {
    return b[1] === 0xd8 && b[2] === 0xff && b[3] !== 0xf7 ? 'image/jpeg' : undefined;
  }
  if (first === 0x89 && b.length >= PNG_SIGNATURE.length) {
    for (let i = 1; i < PNG_SIGNATURE.length; i++) if (b[i] !== PNG_SIGNATURE[i]) return undefined;
    return 'image/png';
  }
  return undefined;
}

/**
 * The image type from the bytes alone, or `UNSUPPORTED_MEDIA_TYPE`. The work is bounded: the
 * first `SNIFF_BYTES` decide, but a TIFF, which is looked at whole (one IFD) so that camera RAW
 * is still told apart from it.
 */
export async function sniffImageType(bytes: Uint8Array): Promise<ImageMimeType> {
  return knownImageType(bytes) ?? (await sniffByFileType(bytes));
}

/** file-type's answer, for what `knownImageType` does not know. */
export async function sniffByFileType(bytes: Uint8Array): Promise<ImageMimeType> {
  let found = await fileTypeFromBuffer(bytes.subarray(0, SNIFF_BYTES));
  const tiff = found?.ext === 'tif' || (!found && isTiffSignature(bytes));
  if (tiff && bytes.length > SNIFF_BYTES) found = await fileTypeFromBuffer(bytes);
  const mimetype = found ? ACCEPTED[found.ext] : undefined;
  if (!mimetype) {
    throw new GuardError('UNSUPPORTED_MEDIA_TYPE', {
      detail: found ? `sniffed as ${found.ext}` : 'no known image signature',
    });
  }
  return mimetype;
}

/** 'II*\0' or 'MM\0*': file-type needs the whole TIFF when its first IFD lies past the sample. */
function isTiffSignature(b: Uint8Array): boolean {
  const le = b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0x00;
  const be = b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2a;
  return le || be;
}
