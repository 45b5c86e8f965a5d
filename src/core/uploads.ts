import { readFile, rm, writeFile } from 'node:fs/promises';
import { GuardError, toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { MulterFile } from '../multipart/selection.js';
import type { ScannedFile } from '../types.js';
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

/**
 * Makes each passing file what was checked: `mimetype` becomes the type sniffed from the bytes
 * (the client's claim stays as `clientMimetype`), and when validation cut trailing data off the
 * bytes or `sanitize` changed them, `buffer`, `size` and the disk file (after `scan()`) hold the
 * checked bytes only (and `originalname` the extension of a changed type). A promise only when
 * disk files are rewritten.
 */
export function handOver(
  files: readonly MulterFile[],
  uploads: readonly UploadedFile[],
  scanned: readonly ScannedFile[],
): Promise<void> | undefined {
  let writes: Promise<void>[] | undefined;
  for (let i = 0; i < files.length; i++) {
    const file = files[i] as MulterFile;
    const facts = scanned[i];
    const upload = uploads[i];
    if (!facts || !upload) continue;
    file.clientMimetype = file.mimetype;
    file.mimetype = facts.mimetype;
    file.originalname = upload.originalname;
    if (upload.bytes.length === file.size && !upload.original) continue;
    file.size = upload.bytes.length;
    if (file.buffer) file.buffer = upload.bytes;
    if (file.path) {
      writes ??= [];
      writes.push(writeFile(file.path, upload.bytes));
    }
  }
  // Memory storage (the usual case) needs no wait: no promise, no microtask hop.
  return writes && Promise.all(writes).then(() => undefined);
}

/** Files of a rejected request (or withheld matches) never stay on disk. No work in memory. */
export function removeFromDisk(
  events: GuardEvents,
  files: readonly MulterFile[],
): Promise<void> | undefined {
  if (!files.some((file) => file.path)) return undefined;
  return removeAll(events, files);
}

async function removeAll(events: GuardEvents, files: readonly MulterFile[]): Promise<void> {
  await Promise.all(
    files.map(async (file) => {
      if (!file.path) return;
      await rm(file.path, { force: true }).catch((error: unknown) => {
        events.emit('error', { error: toError(error), stage: 'cleanup' });
      });
    }),
  );
}
