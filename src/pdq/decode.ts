/**
 * Bytes to pixels for PDQ: sharp (its own thread pool) for JPEG, PNG, GIF and TIFF, our decoder
 * for BMP. The type is sniffed from the bytes and the pixel count read from the header and checked
 * against `maxPixels` before any decoding. Beside the stored pixels, the image as colour-managed
 * viewers draw it (`colour-managed.ts`).
 */
import type { Sharp } from 'sharp';
import { readDimensions } from '../core/dimensions.js';
import { withIccProfile } from '../core/png-chunk.js';
import { sniffImageType } from '../core/sniff.js';
import type { ImageMimeType } from '../types.js';
import { bmpProfile, decodeBmp } from './bmp.js';
import { withColourManaged } from './colour-managed.js';
import { drawInSrgb } from './colour-space.js';
import { loadSharp } from './load-sharp.js';
import type { RawImage } from './luma.js';
import { pngColourSpace } from './png-colour.js';

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
  if (type === 'image/bmp') return decodeBmpPixels(bytes, maxPixels);
  const sharp = await loadSharp();
  const limits = sharpLimits(maxPixels);
  try {
    // The stored pixels, not converted through an embedded ICC profile: what the reference hashes.
    const image = sharp(bytes, { ...limits, ignoreIcc: true });
    // Not applied here: the reference hashes the stored pixels; the hash as shown comes beside.
    const { orientation, hasProfile } = await image.metadata();
    const stored = await rawPixels(image, orientation);
    // Beside them, as colour-managed viewers draw them: through the profile (decoded again, under
    // the same limits) to sRGB (named: sharp draws 16-bit images in Display P3 otherwise), and a
    // PNG through its gAMA/cHRM (drawn from the stored pixels).
    const drawings: RawImage[] = [];
    if (hasProfile) drawings.push(await rawPixels(sharp(bytes, limits).withIccProfile('srgb')));
    const space = type === 'image/png' ? pngColourSpace(bytes) : undefined;
    if (space) drawings.push(drawInSrgb(stored, space));
    return withColourManaged(stored, drawings);
  } catch (error) {
    throw new PdqDecodeError('undecodable', `the ${type} could not be decoded`, error);
  }
}

/**
 * A BMP by our decoder, and beside it, when a V5 header embeds an ICC profile, the image drawn
 * through it as Chromium draws it: sharp converts the pixels, handed to it as a PNG with that
 * profile (sharp takes no profile for raw pixels), to sRGB. Only then is sharp needed.
 */
async function decodeBmpPixels(bytes: Buffer, maxPixels: number): Promise<RawImage> {
  let stored: RawImage;
  let profile: Uint8Array | undefined;
  try {
    stored = decodeBmp(bytes, maxPixels);
    profile = bmpProfile(bytes);
  } catch (error) {
    throw new PdqDecodeError('undecodable', 'the BMP could not be decoded', error);
  }
  if (!profile) return stored;
  const sharp = await loadSharp();
  try {
    const { data, width, height, channels } = stored;
    const raw = { width, height, channels: channels as 3 | 4 };
    const png = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw })
      .png({ compressionLevel: 0 })
      .toBuffer();
    const profiled = withIccProfile(png, profile);
    const drawn = await rawPixels(sharp(profiled, sharpLimits(maxPixels)).withIccProfile('srgb'));
    return withColourManaged(stored, [drawn]);
  } catch (error) {
    throw new PdqDecodeError(
      'undecodable',
      'the BMP could not be drawn through its profile',
      error,
    );
  }
}

/** What every decode by sharp is held to: the header's pixel count, and no corrupt data. */
const sharpLimits = (maxPixels: number) =>
  ({ limitInputPixels: maxPixels, failOn: 'error' }) as const;

/** 8-bit pixels from a sharp pipeline, and the EXIF orientation when the file states one. */
async function rawPixels(image: Sharp, orientation?: number): Promise<RawImage> {
  const { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  return orientation === undefined
    ? { data, width, height, channels }
    : { data, width, height, channels, orientation };
}

/** Decodes an image of one of the guard's five types to 8-bit pixels. */
export async function decodeImage(bytes: Buffer, options: DecodeOptions = {}): Promise<RawImage> {
  const { type, width, height } = await inspectImage(bytes, options);
  return decodePixels(bytes, type, width * height);
}
