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

/** The image type from the bytes alone, or `UNSUPPORTED_MEDIA_TYPE`. */
export async function sniffImageType(bytes: Uint8Array): Promise<ImageMimeType> {
  const found = await fileTypeFromBuffer(bytes);
  const mimetype = found ? ACCEPTED[found.ext] : undefined;
  if (!mimetype) {
    throw new GuardError('UNSUPPORTED_MEDIA_TYPE', {
      detail: found ? `sniffed as ${found.ext}` : 'no known image signature',
    });
  }
  return mimetype;
}
