import { readFile, rm } from 'node:fs/promises';
import { GuardError, toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { MulterFile } from '../multipart/selection.js';
import type { UploadedFile } from './validate-file.js';

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

/** Files of a rejected request (or withheld matches) never stay on disk. No work in memory. */
export async function removeFromDisk(
  events: GuardEvents,
  files: readonly MulterFile[],
): Promise<void> {
  if (!files.some((file) => file.path)) return;
  await Promise.all(
    files.map(async (file) => {
      if (!file.path) return;
      await rm(file.path, { force: true }).catch((error: unknown) => {
        events.emit('error', { error: toError(error), stage: 'cleanup' });
      });
    }),
  );
}
