import { hash } from 'node:crypto';
import { GuardError } from '../errors.js';
import type { Limits, RouteConfig } from '../options.js';
import type { FileFacts, ImageMimeType } from '../types.js';
import { readDimensions } from './dimensions.js';
import type { Original } from './sanitize.js';
import { knownImageType, sniffByFileType } from './sniff.js';

/** A file as the multipart layer hands it over, before any check. */
export interface UploadedFile {
  field: string;
  originalname: string;
  bytes: Buffer;
  /** Overrides the route's `trailingData` for this upload (images in text fields: 'reject'). */
  trailingData?: RouteConfig['trailingData'];
  /** Set by the `sanitize` step when it changed the bytes: the upload as first validated (evidence). */
  original?: Original;
}

/**
 * Turns uploaded bytes into trusted `FileFacts` or a `GuardError`: size, type from the bytes,
 * header dimensions against the limits, and what to do with bytes after the image's end
 * (`trailingData`; under 'strip', `upload.bytes` becomes the image alone, and the facts, the
 * check and the handler all get those bytes). Nothing the client claimed is used but the field
 * and file names, which stay data.
 */
export async function validateFile(
  upload: UploadedFile,
  limits: Limits,
  trailingData: RouteConfig['trailingData'] = 'strip',
): Promise<FileFacts> {
  return (
    validateKnownFile(upload, limits, trailingData) ??
    (await validateByFileType(upload, limits, trailingData))
  );
}

/**
 * `validateFile` without a promise for the four types the guard sniffs itself (JPEG, PNG, GIF,
 * BMP: nearly every upload): the facts, or `undefined` when file-type must sniff the bytes
 * (then call `validateByFileType`). Throws the same errors.
 */
export function validateKnownFile(
  upload: UploadedFile,
  limits: Limits,
  trailingData: RouteConfig['trailingData'] = 'strip',
): FileFacts | undefined {
  const { bytes } = upload;
  if (bytes.length > limits.maxFileSize) {
    throw new GuardError('FILE_TOO_LARGE', {
      detail: `${bytes.length} bytes, limit ${limits.maxFileSize}`,
    });
  }
  const mimetype = knownImageType(bytes);
  return mimetype ? factsOf(upload, mimetype, limits, trailingData) : undefined;
}

/** The rest of `validateFile` once `validateKnownFile` answered `undefined`: file-type sniffs. */
export async function validateByFileType(
  upload: UploadedFile,
  limits: Limits,
  trailingData: RouteConfig['trailingData'] = 'strip',
): Promise<FileFacts> {
  return factsOf(upload, await sniffByFileType(upload.bytes), limits, trailingData);
}

/** The checks after the type is known: dimensions, trailing data, limits, then the hash. */
function factsOf(
  upload: UploadedFile,
  mimetype: ImageMimeType,
  limits: Limits,
  trailingData: RouteConfig['trailingData'],
): FileFacts {
  let { bytes } = upload;
  const trailing = upload.trailingData ?? trailingData;
  const { width, height, end } = readDimensions(bytes, mimetype);
  if (end < bytes.length && trailing !== 'keep') {
    if (trailing === 'reject') {
      throw new GuardError('INVALID_IMAGE', {
        detail: `${bytes.length - end} bytes after the end of the image (trailingData: 'reject')`,
      });
    }
    bytes = bytes.subarray(0, end);
    upload.bytes = bytes;
  }
  if (width < limits.minWidth || height < limits.minHeight) {
    throw new GuardError('IMAGE_TOO_SMALL', {
      detail: `${width}x${height}, minimum ${limits.minWidth}x${limits.minHeight}`,
    });
  }
  if (width * height > limits.maxPixels) {
    throw new GuardError('IMAGE_TOO_LARGE', {
      detail: `${width}x${height} is more than ${limits.maxPixels} pixels`,
    });
  }
  return {
    field: upload.field,
    originalname: upload.originalname,
    mimetype,
    size: bytes.length,
    width,
    height,
    sha256: hash('sha256', bytes), // one-shot: no Hash object (Node 20.12+)
  };
}
