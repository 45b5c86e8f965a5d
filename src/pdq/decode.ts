/**
 * Bytes to pixels for PDQ: sharp (its own thread pool) for JPEG, PNG, GIF and TIFF, our decoder
 * for BMP. The type is sniffed from the bytes and the pixel count read from the header and checked
 * against `maxPixels` before any decoding.
 */
import { readDimensions } from '../core/dimensions.js';
import { sniffImageType } from '../core/sniff.js';
import type { ImageMimeType } from '../types.js';
import { decodeBmp } from './bmp.js';
import { loadSharp } from './load-sharp.js';
import type { RawImage } from './luma.js';

/** The guard's default pixel-flood limit (`limits.maxPixels`). */
export const DEFAULT_MAX_PIXELS = 100_000_000;

export type PdqDecodeErrorKind = 'unsupported-type' | 'too-many-pixels' | 'undecodable';

/** The image could not be decoded for hashing; `kind` says why. */
export class PdqDecodeError extends Error {
  readonly kind: PdqDecodeErrorKind;

  constructor(kind: PdqDecodeErrorKind, message: string, cause?: unknown) {
    super(message, cause === undefined ? {} : { cause });
    this.name = 'PdqDecodeError';
    this.kind = kind;
  }
}

export interface DecodeOptions {
  /** The sniffed type when the caller already knows it (the guard does). */
  type?: ImageMimeType;
  /** Refuse images with more pixels. Defaults to 100,000,000 (the guard's default). */
  maxPixels?: number;
}

/** What the header says: the type and the pixel count, checked against `maxPixels`. */
export interface ImageHeader {
  type: ImageMimeType;
  width: number;
  height: number;
}

/** Sniffs the type and reads the header; refuses images above `maxPixels` before any decoding. */
export async function inspectImage(
  bytes: Buffer,
  options: DecodeOptions = {},
): Promise<ImageHeader> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  let header: ImageHeader;
  try {
    const type = options.type ?? (await sniffImageType(bytes));
    header = { type, ...readDimensions(bytes, type) };
  } catch (error) {
    throw new PdqDecodeError(
      'unsupported-type',
      'not a readable gif, jpeg, png, bmp or tiff',
      error,
    );
  }
  if (header.width * header.height > maxPixels) {
    throw new PdqDecodeError(
      'too-many-pixels',
      `image has ${header.width * header.height} pixels, more than the limit of ${maxPixels}`,
    );
  }
  return header;
}

/**
 * Decodes bytes whose header `inspectImage` has checked (sharp, or our BMP decoder). `maxPixels`
 * is the header's own pixel count: a file whose pixels outgrow its header (a GIF frame larger than
 * the logical screen, which decoders grow the canvas to) is refused before any is decoded, never
 * decoded at a size that the pixel limit, the pixel budget and the inline-hashing cut-off did not see.
 */
export async function decodePixels(
  bytes: Buffer,
  type: ImageMimeType,
  maxPixels: number,
): Promise<RawImage> {
  if (type === 'image/bmp') {
    try {
      return decodeBmp(bytes, maxPixels);
    } catch (error) {
      throw new PdqDecodeError('undecodable', 'the BMP could not be decoded', error);
    }
  }
  const sharp = await loadSharp();
  try {
    // The stored pixels, not converted through an embedded ICC profile: what the reference hashes.
    const image = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', ignoreIcc: true });
    // Not applied here: the reference hashes the stored pixels; the hash as shown comes beside.
    const { orientation } = await image.metadata();
    const { data, info } = await image
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const { width, height, channels } = info;
    return orientation === undefined
      ? { data, width, height, channels }
      : { data, width, height, channels, orientation };
  } catch (error) {
    throw new PdqDecodeError('undecodable', `the ${type} could not be decoded`, error);
  }
}

/** Decodes an image of one of the guard's five types to 8-bit pixels. */
export async function decodeImage(bytes: Buffer, options: DecodeOptions = {}): Promise<RawImage> {
  const { type, width, height } = await inspectImage(bytes, options);
  return decodePixels(bytes, type, width * height);
}
