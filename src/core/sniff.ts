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

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The image type from the bytes alone, or `UNSUPPORTED_MEDIA_TYPE`. The work is bounded: the
 * first `SNIFF_BYTES` decide, but a TIFF, which is looked at whole (one IFD) so that camera RAW
 * is still told apart from it.
 */
export async function sniffImageType(bytes: Uint8Array): Promise<ImageMimeType> {
  // file-type walks a PNG's chunks one awaited read at a time to tell APNG from PNG (milliseconds
  // for a crafted file of empty chunks); both are 'image/png' to us, so the signature decides.
  if (PNG_SIGNATURE.equals(bytes.subarray(0, 8))) return 'image/png';
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
