/**
 * The PDQ allow-list hook: releasing a false positive appends `pdq <hex>` to a text file, one
 * hash per line, so a PDQ matcher can skip that image next time. Only records that carry a PDQ
 * hash (`record.pdq`, or `record.hashes.pdq`) and did not match a listed hash exactly add a line;
 * a hash already in the allow-list is not repeated.
 */
import { openOwnForAppend } from '../open-append.js';
import { withFileLock } from '../quarantine/file-lock.js';
import type { QuarantineRecord } from '../quarantine/types.js';

export interface AllowListOptions {
  /**
   * The allow-list file; created `0600` when missing. Never written through a symlink at this
   * path, nor when it is anything but a regular file (the release then fails, saying so).
   */
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

/**
 * Why the record's PDQ hash is not to be allow-listed, if it is not: the upload matched a listed
 * hash exactly (a flag at distance 0). A PDQ matcher allows an image at least as near to an
 * allow-list hash as to every listed one, so that line would let the listed image itself through
 * from then on; and a moderator, who never sees the image, cannot tell a false positive from an
 * image crafted to collide with the listed one. The release itself stands.
 */
export function notAllowable(record: QuarantineRecord): string | undefined {
  const flags: unknown = record.matchFlags;
  const exact = Array.isArray(flags) && flags.some((flag) => flag?.matchDistance === 0);
  return exact
    ? 'it matched a listed hash exactly (distance 0): listing it would allow the listed image itself'
    : undefined;
}

/**
 * Throws unless the allow-list could be appended to (a symlink or a FIFO at its path, no
 * permission); creates it when missing. Checked before releasing a record that has a PDQ hash, so
 * that no release is taken whose hash then cannot be listed (releasing it again lists nothing).
 */
export async function assertAllowListWritable(options: AllowListOptions): Promise<void> {
  await (await opened(options)).close();
}

/**
 * Appends the record's PDQ hash (unless `notAllowable`); returns the line added, or undefined when
 * there was none to add.
 */
export async function allowRecord(
  options: AllowListOptions,
  record: QuarantineRecord,
): Promise<string | undefined> {
  const pdq = pdqOf(record);
  if (pdq === undefined || notAllowable(record) !== undefined) return undefined;
  const line = `pdq ${pdq}`;
  return withFileLock(`${options.path}.lock`, async () => {
    // Read and appended to on one descriptor: never through a symlink planted at the path (the
    // line would be written into the file it points at), only a regular file.
    const handle = await opened(options);
    try {
      const text = (await handle.readFile()).toString('utf8');
      if (text.split('\n').includes(line)) return undefined;
      const separator = text === '' || text.endsWith('\n') ? '' : '\n';
      await handle.write(`${separator}${line}\n`);
      return line;
    } finally {
      await handle.close();
    }
  });
}

function opened(options: AllowListOptions) {
  return openOwnForAppend(options.path, `the allow-list ${options.path}`);
}
