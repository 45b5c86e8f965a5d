import { GuardError } from '../errors.js';
import type { ImageMimeType } from '../types.js';
import { readHeader } from './structure.js';

export interface Dimensions {
  width: number;
  height: number;
  /** Where the image ends; bytes past it are trailing data (see `HeaderSize.end`). */
  end: number;
}

/**
 * Width and height from the header of an image of a known type, or `INVALID_IMAGE`. The work is
 * bounded by a small constant per file whatever the bytes (see `readHeader`): no image-size
 * reader is used, since its JPEG reader walks scan data byte by byte (SPEC section 4).
 */
export function readDimensions(bytes: Uint8Array, type: ImageMimeType): Dimensions {
  let size: Dimensions;
  try {
    size = readHeader(bytes, type);
  } catch (error) {
    throw new GuardError('INVALID_IMAGE', {
      detail: `unreadable ${type} header: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  }
  const { width, height } = size;
  if (!isPositiveInteger(width) || !isPositiveInteger(height)) {
    throw new GuardError('INVALID_IMAGE', { detail: `${type} header has no valid dimensions` });
  }
  return { width, height, end: size.end };
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}
