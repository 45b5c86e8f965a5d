import { BMP } from 'image-size/types/bmp';
import { GIF } from 'image-size/types/gif';
import type { IImage } from 'image-size/types/interface';
import { JPG } from 'image-size/types/jpg';
import { PNG } from 'image-size/types/png';
import { TIFF } from 'image-size/types/tiff';
import { GuardError } from '../errors.js';
import type { ImageMimeType } from '../types.js';
import { checkStructure } from './structure.js';

/**
 * Only our five readers are ever used: the sniffed type picks one, so image-size never guesses
 * and its global `disableTypes` state (shared with the host app) is left alone.
 */
const READERS: Readonly<Record<ImageMimeType, IImage>> = {
  'image/gif': GIF,
  'image/jpeg': JPG,
  'image/png': PNG,
  'image/bmp': BMP,
  'image/tiff': TIFF,
};

export interface Dimensions {
  width: number;
  height: number;
}

/**
 * image-size reads through a DataView over `input.buffer`, so a Buffer that is a slice of Node's
 * shared pool lets it read past the end of a truncated file (SPEC section 4). Hand it a view
 * that owns its memory.
 */
function ownedBytes(bytes: Uint8Array): Uint8Array {
  const owns = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;
  return owns ? bytes : Uint8Array.prototype.slice.call(bytes);
}

/** Width and height from the header of an image of a known type, or `INVALID_IMAGE`. */
export function readDimensions(bytes: Uint8Array, type: ImageMimeType): Dimensions {
  const input = ownedBytes(bytes);
  let size: { width?: number; height?: number };
  try {
    checkStructure(input, type);
    if (!READERS[type].validate(input)) throw new Error('header not recognised');
    size = READERS[type].calculate(input);
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
  return { width, height };
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}
