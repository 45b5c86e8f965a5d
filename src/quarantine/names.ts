/**
 * The file store's layout. Every name is built from the incident id (validated) and the type
 * sniffed from the bytes; the client's file name never reaches a path.
 *
 *   <id>.<ext>    the image (ext from the sniffed type: gif, jpg, png, bmp, tif)
 *   <id>.json     the record; its presence means the incident is complete
 *   .tmp-<hex>    a write in progress (ignored by list, removed when stale)
 *   .lock-<id>    held while one process updates the record (see ./file-lock.ts)
 *   .lock-<id>.break-<hex>  a claim on a stale lock, held while one process breaks it
 */
import { QuarantineError } from '../errors.js';

/** Ids the store accepts: letters, digits and dashes (uuids), so no path can escape the store. */
export const ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

export const TEMP_PREFIX = '.tmp-';
export const RECORD_SUFFIX = '.json';
export const LOCK_PREFIX = '.lock-';

const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/gif': 'gif',
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/bmp': 'bmp',
  'image/tiff': 'tif',
};

/** The file extension of a sniffed type (`bin` for anything else). */
export function extensionOf(mimetype: string): string {
  return EXTENSIONS[mimetype] ?? 'bin';
}

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/** Throws a `QuarantineError` unless `id` matches `ID_PATTERN`. */
export function assertValidId(id: unknown): asserts id is string {
  if (!isValidId(id)) {
    throw new QuarantineError('invalid incident id: expected 1-64 letters, digits or dashes');
  }
}

export function recordName(id: string): string {
  return `${id}${RECORD_SUFFIX}`;
}

export function imageName(id: string, mimetype: string): string {
  return `${id}.${extensionOf(mimetype)}`;
}

/** The lock file of one record, shared by every process using the store. */
export function lockName(id: string): string {
  return `${LOCK_PREFIX}${id}`;
}

/** The id of a record file name, or undefined for anything else (temp files, images). */
export function idOfRecordName(name: string): string | undefined {
  if (!name.endsWith(RECORD_SUFFIX)) return undefined;
  const id = name.slice(0, -RECORD_SUFFIX.length);
  return isValidId(id) ? id : undefined;
}

/** The id of an image file name (`<id>.<known ext>`), or undefined. */
export function idOfImageName(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const ext = name.slice(dot + 1);
  if (ext !== 'bin' && !Object.values(EXTENSIONS).includes(ext)) return undefined;
  const id = name.slice(0, dot);
  return isValidId(id) ? id : undefined;
}
