import { readFile } from 'node:fs/promises';
import type { UploadedFile } from '../core/validate-file.js';
import { GuardError } from '../errors.js';
import type { MulterFile } from '../multipart/selection.js';

/** Marks a request one guard has taken, so no other guard parses or scans it again. */
export const SCANNED: unique symbol = Symbol.for('photodna-guard.scanned') as never;

/** A memory-storage file as the core's upload. */
export function uploadOf(file: MulterFile): UploadedFile {
  return {
    field: file.fieldname,
    originalname: file.originalname,
    bytes: file.buffer ?? Buffer.alloc(0),
  };
}

/** Any multer storage's file as the core's upload; a disk file over the limit is never read. */
export async function readUpload(file: MulterFile, maxFileSize: number): Promise<UploadedFile> {
  if (file.size > maxFileSize) {
    throw new GuardError('FILE_TOO_LARGE', { detail: `${file.size} bytes, limit ${maxFileSize}` });
  }
  if (file.buffer) return uploadOf(file);
  if (!file.path)
    throw new GuardError('INVALID_IMAGE', { detail: 'the file has neither buffer nor path' });
  return {
    field: file.fieldname,
    originalname: file.originalname,
    bytes: await readFile(file.path),
  };
}
