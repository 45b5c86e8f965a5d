/**
 * `sanitize: 'reencode'`: the image decoded and encoded again by sharp (an optional peer
 * dependency, loaded once by `loadSharp`), in sharp's thread pool. Only pixels survive: EXIF
 * orientation is applied, then every piece of metadata, every private block, every frame but
 * the first (GIF, APNG) and anything past the image's end is gone. The format stays (JPEG, PNG,
 * GIF, TIFF), but BMP, which sharp cannot write (nor read), becomes PNG (`reencode-bmp.ts`).
 */
import type { Sharp } from 'sharp';
import { GuardError } from '../errors.js';
import { loadSharp, type SharpFactory } from '../pdq/load-sharp.js';
import type { ImageMimeType } from '../types.js';
import { bmpToPng } from './reencode-bmp.js';

/** The re-encoded image and its type. */
export interface Reencoded {
  bytes: Buffer;
  mimetype: ImageMimeType;
}

/** JPEG quality of the re-encode: visually lossless for photos, far below the 4 MiB limit. */
const JPEG_QUALITY = 90;

/**
 * Decodes `bytes` (validated as `type`) and encodes the pixels again; more than `maxPixels`
 * decoded (the header's count: see `sanitizeUpload`) is refused before decoding. An image the decoder refuses is `INVALID_IMAGE`; sharp missing is `SCAN_UNAVAILABLE`
 * (`not-configured`): the guard's options check for it when it is created.
 */
export async function reencode(
  bytes: Buffer,
  type: ImageMimeType,
  maxPixels: number,
): Promise<Reencoded> {
  let sharp: SharpFactory;
  try {
    sharp = await loadSharp();
  } catch (error) {
    throw new GuardError('SCAN_UNAVAILABLE', {
      reason: 'not-configured',
      detail: sharpUnavailable(error),
      cause: error,
    });
  }
  try {
    if (type === 'image/bmp') {
      return { bytes: await bmpToPng(sharp, bytes, maxPixels), mimetype: 'image/png' };
    }
    const image = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', autoOrient: true });
    return { bytes: await ENCODERS[type](image).toBuffer(), mimetype: type };
  } catch (error) {
    throw new GuardError('INVALID_IMAGE', {
      detail: `the ${type} could not be decoded to re-encode it (sanitize 'reencode')`,
      cause: error,
    });
  }
}

/** What a sharp that could not be loaded means for `sanitize: 'reencode'`. */
export function sharpUnavailable(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const why = cause instanceof Error ? cause.message : String(cause);
  return `sanitize 'reencode' needs sharp, which could not be loaded (npm install sharp): ${why}`;
}

/** Each type sharp reads, written in the same format (no metadata: sharp drops it by default). */
const ENCODERS: Record<Exclude<ImageMimeType, 'image/bmp'>, (image: Sharp) => Sharp> = {
  'image/jpeg': (image) => image.jpeg({ quality: JPEG_QUALITY }),
  'image/png': (image) => image.png(),
  'image/gif': (image) => image.gif(),
  // sharp's TIFF default is JPEG compression: LZW keeps the pixels.
  'image/tiff': (image) => image.tiff({ compression: 'lzw' }),
};
