import { rm, writeFile } from 'node:fs/promises';
import { GuardError, toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { MulterFile } from '../multipart/selection.js';
import { type BoundedRead, readBounded } from '../read-bounded.js';
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

/**
 * Any multer storage's file as the core's upload, its size measured rather than taken from the
 * storage engine's `size` (which a custom engine may leave out or get wrong, and which a disk
 * file appended to since outgrows): a buffer by its length, a disk file read by `readBounded`, so
 * never further than one byte past the limit. A disk file is read only as the regular file a
 * storage engine writes, never through a symlink: a rejection deletes `file.path` and a passing
 * file's checked bytes are written back there, and through a link the one would leave the
 * refused bytes where the link points and the other would write into whatever it names. Such a
 * file (or a FIFO, a device, a directory) is the host's storage misconfigured: 503.
 *
 * `onAllocate` is told each buffer a disk file's read allocates, before it does, and may throw to
 * refuse the request before the read (the memory budget: `BufferedBytes.addRead`). A file in
 * memory is not told of: the host's parser allocated its buffer, and holds it until the request
 * ends, whatever the guard answers.
 */
export async function readUpload(
  file: MulterFile,
  maxFileSize: number,
  onAllocate?: (bytes: number) => void,
): Promise<UploadedFile> {
  if (file.buffer) {
    const { length } = file.buffer;
    if (length > maxFileSize) throw tooLarge(`${length} bytes, limit ${maxFileSize}`);
    return uploadOf(file);
  }
  if (!file.path)
    throw new GuardError('INVALID_IMAGE', { detail: 'the file has neither buffer nor path' });
  const read = await readStored(file.path, maxFileSize, onAllocate);
  if (read.kind === 'too-large') throw tooLarge(read.detail);
  if (read.kind === 'not-regular') throw notStoredFile('is not a regular file');
  return { field: file.fieldname, originalname: file.originalname, bytes: read.bytes };
}

async function readStored(
  path: string,
  maxFileSize: number,
  onAllocate: ((bytes: number) => void) | undefined,
): Promise<BoundedRead> {
  try {
    return await readBounded(path, maxFileSize, { followSymlinks: false, onAllocate });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw notStoredFile('is a symlink');
    throw error;
  }
}

function tooLarge(detail: string): GuardError {
  return new GuardError('FILE_TOO_LARGE', { detail });
}

function notStoredFile(what: string): GuardError {
  return new GuardError('SCAN_UNAVAILABLE', {
    reason: 'not-configured',
    detail: `the host's storage left a file whose path ${what}: the guard reads (and deletes on a rejection) only the regular file a storage engine wrote at file.path`,
  });
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
