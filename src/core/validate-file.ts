import { hash } from 'node:crypto';
import { GuardError } from '../errors.js';
import type { Limits } from '../options.js';
import type { FileFacts } from '../types.js';
import { readDimensions } from './dimensions.js';
import { sniffImageType } from './sniff.js';

/** A file as the multipart layer hands it over, before any check. */
export interface UploadedFile {
  field: string;
  originalname: string;
  bytes: Buffer;
}

/**
 * Turns uploaded bytes into trusted `FileFacts` or a `GuardError`: size, type from the bytes,
 * header dimensions against the limits. Nothing the client claimed is used but the field and
 * file names, which stay data.
 */
export async function validateFile(upload: UploadedFile, limits: Limits): Promise<FileFacts> {
  const { bytes } = upload;
  if (bytes.length > limits.maxFileSize) {
    throw new GuardError('FILE_TOO_LARGE', {
      detail: `${bytes.length} bytes, limit ${limits.maxFileSize}`,
    });
  }
  const mimetype = await sniffImageType(bytes);
  const { width, height } = readDimensions(bytes, mimetype);
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
