/**
 * The PDQ allow-list hook: releasing a false positive appends `pdq <hex>` to a text file, one
 * hash per line, so a PDQ matcher can skip that image next time. Only records that carry a PDQ
 * hash (`record.pdq`, or `record.hashes.pdq`) add a line; a hash already listed is not repeated.
 */
import { appendFile } from 'node:fs/promises';
import { isNotFound, readRegularFile } from '../quarantine/atomic-file.js';
import { withFileLock } from '../quarantine/file-lock.js';
import type { QuarantineRecord } from '../quarantine/types.js';

export interface AllowListOptions {
  /** The allow-list file; created `0600` when missing. */
  path: string;
}

const PDQ_HEX = /^[0-9a-f]{64}$/;

/** The record's PDQ hash (64 hex digits, lower case), if it carries one (`record.pdq.hash`). */
export function pdqOf(record: QuarantineRecord): string | undefined {
  const loose = record as Omit<QuarantineRecord, 'pdq'> & {
    pdq?: { hash?: unknown } | string;
    hashes?: { pdq?: unknown };
  };
  const value =
    (typeof loose.pdq === 'object' && loose.pdq !== null ? loose.pdq.hash : loose.pdq) ??
    loose.hashes?.pdq;
  if (typeof value !== 'string') return undefined;
  const hex = value.toLowerCase();
  return PDQ_HEX.test(hex) ? hex : undefined;
}

/** Appends the record's PDQ hash; returns the line added, or undefined when there was none to add. */
export async function allowRecord(
  options: AllowListOptions,
  record: QuarantineRecord,
): Promise<string | undefined> {
  const pdq = pdqOf(record);
  if (pdq === undefined) return undefined;
  const line = `pdq ${pdq}`;
  return withFileLock(`${options.path}.lock`, async () => {
    let text = '';
    try {
      // The host's path (a symlink is fine); anything but a regular file is refused, not read.
      const bytes = await readRegularFile(options.path, { followSymlinks: true });
      if (!bytes) throw new Error(`the allow-list ${options.path} is not a regular file`);
      text = bytes.toString('utf8');
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (text.split('\n').includes(line)) return undefined;
    const separator = text === '' || text.endsWith('\n') ? '' : '\n';
    await appendFile(options.path, `${separator}${line}\n`, { mode: 0o600 });
    return line;
  });
}
