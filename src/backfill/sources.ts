/**
 * The files a backfill scans, streamed (never a list in memory): every regular file under each
 * directory (recursively, symlinks not followed, the rest the walk meets yielded as skipped; names that are not UTF-8 kept: see names.ts), each file given by name, and each line of a
 * manifest (`{"path": "..."}` or `{"url": "..."}` JSON lines, or plain paths; relative paths
 * resolve against the manifest's directory), and how to read one, bounded.
 */
import { createReadStream, type Dir, type Dirent } from 'node:fs';
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { download, isHttpUrl } from '../download.js';
import { GuardError } from '../errors.js';
import { readBounded } from '../read-bounded.js';
import { fsPath, nameOf } from './names.js';

/** Bounds of a manifest URL's download, besides `limits.maxFileSize`. */
const URL_TIMEOUT_MS = 30_000;
const URL_MAX_REDIRECTS = 3;

/**
 * A file (or manifest URL) to read. `followSymlinks` for a path the operator named (on the
 * command line or in a manifest); a walked file is read only as the regular file the walk saw,
 * never through a symlink put in its place during the run, and only if it is opened under the
 * real path of the directory walked (`within`, see `readBounded`): a directory swapped for a
 * symlink after the walk listed it is not followed out of the tree.
 */
export interface FileEntry {
  path: string;
  followSymlinks: boolean;
  within?: Buffer;
}

/** What the walk met that is neither a regular file nor a directory: left unread. */
export type NotRegular = 'symlink' | 'fifo' | 'socket' | 'device' | 'other';

/**
 * One entry of a backfill: a file to read, or one the walk leaves unread, yielded all the same
 * so that the run counts it and its summary shows what the backfill did not cover.
 */
export type Entry = FileEntry | { path: string; skipped: NotRegular };

export async function* filesOf(
  paths: readonly string[],
  manifest: string | undefined,
): AsyncGenerator<Entry> {
  for (const path of paths) {
    const info = await stat(path);
    if (info.isDirectory()) {
      // Taken once: the tree the operator named, as it is now (a symlink named on the command line
      // is followed here, and never again).
      const within = await realpath(path, { encoding: 'buffer' });
      yield* walk(resolve(path), within);
    } else yield { path: resolve(path), followSymlinks: true };
  }
  if (manifest === undefined) return;
  for await (const path of manifestPaths(manifest)) yield { path, followSymlinks: true };
}

async function* walk(dir: string, within: Buffer): AsyncGenerator<Entry> {
  let handle: Dir;
  try {
    // Names as their bytes (see names.ts); Node's typings know only string names.
    handle = await opendir(fsPath(dir), { encoding: 'buffer' as BufferEncoding });
  } catch {
    // Deleted since it was listed (an album removed during a days-long run), or not readable:
    // yielded itself, so that reading it reports why as an error line (tried again by --resume)
    // instead of the whole run stopping.
    yield { path: dir, followSymlinks: false, within };
    return;
  }
  const subdirs: string[] = [];
  for await (const entry of handle) {
    const name = nameOf(entry.name as unknown as Buffer);
    const path = join(dir, name);
    if (entry.isFile()) yield { path, followSymlinks: false, within };
    else if (entry.isDirectory()) subdirs.push(name);
    else yield { path, skipped: notRegularOf(entry) };
  }
  // Directories after files keeps one directory's names in memory at a time (as names only).
  for (const name of subdirs.sort()) yield* walk(join(dir, name), within);
}

function notRegularOf(entry: Dirent): NotRegular {
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isFIFO()) return 'fifo';
  if (entry.isSocket()) return 'socket';
  if (entry.isCharacterDevice() || entry.isBlockDevice()) return 'device';
  return 'other';
}

async function* manifestPaths(manifest: string): AsyncGenerator<string> {
  const base = dirname(resolve(manifest));
  const lines = createInterface({ input: createReadStream(manifest), crlfDelay: Infinity });
  for await (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('{')) {
      // A stored file may be named like a JSON line (its name is the uploader's): listed as a
      // plain path, it is scanned as itself too, never left unread for the entry it spells.
      const literal = resolve(base, raw);
      const named = await lstat(fsPath(literal)).then(
        () => true,
        () => false,
      );
      let parsed: { path?: unknown; url?: unknown };
      try {
        parsed = JSON.parse(line) as { path?: unknown; url?: unknown };
      } catch (error) {
        if (named) {
          yield literal;
          continue;
        }
        throw error;
      }
      yield entryOf(parsed, line, base);
      if (named) yield literal;
      continue;
    }
    // A plain path as written: a name may end (or start) with a space, and `x.png ` trimmed
    // would read `x.png` in its place.
    yield resolve(base, raw);
  }
}

/** A manifest's JSON line: its URL as it is, or its path resolved against the manifest's folder. */
function entryOf(parsed: { path?: unknown; url?: unknown }, line: string, base: string): string {
  if (parsed.url !== undefined) {
    if (!isHttpUrl(parsed.url))
      throw new Error('manifest line whose "url" is not an absolute http(s) URL');
    // A URL is its own name (never resolved against the manifest's directory).
    return parsed.url;
  }
  if (typeof parsed.path !== 'string' || !parsed.path)
    throw new Error(`manifest line without a "path" or "url": ${line.slice(0, 200)}`);
  return resolve(base, parsed.path);
}

/**
 * Counts what `filesOf` would yield, unread entries too (for the progress bar's ETA, which counts
 * them as skipped), streaming too.
 */
export async function countFiles(
  paths: readonly string[],
  manifest: string | undefined,
): Promise<number> {
  let count = 0;
  for await (const _ of filesOf(paths, manifest)) count++;
  return count;
}

/**
 * The bytes of one file (or a manifest's http(s) URL, downloaded), at most `max` (read by
 * `readBounded`: see there): a larger file or body is `invalid` without being read whole; a
 * failed read or download is an `error` (tried again by `--resume`), and so is what is not a
 * regular file (a FIFO, a socket, a device such as /dev/zero, named by a manifest or swapped in
 * after the listing, or a directory `walk` could not list). A walked file is opened without
 * following a symlink (ELOOP): it is read only as the regular file the walk saw, and only if it
 * was opened inside the tree walked (ELOOP too: a directory on its path swapped for a symlink).
 */
export async function readItem(
  item: FileEntry,
  max: number,
): Promise<{ bytes: Buffer } | { invalid: GuardError } | { error: string }> {
  if (isHttpUrl(item.path)) {
    const fetched = await download(item.path, {
      maxBytes: max,
      timeoutMs: URL_TIMEOUT_MS,
      maxRedirects: URL_MAX_REDIRECTS,
    });
    if (fetched.ok) return { bytes: fetched.bytes };
    if (fetched.reason === 'too-large') return tooLarge(fetched.detail);
    if (fetched.reason === 'not-allowed')
      return { invalid: new GuardError('INVALID_IMAGE', { detail: fetched.detail }) };
    return { error: fetched.detail };
  }
  try {
    const read = await readBounded(fsPath(item.path), max, item);
    if (read.kind === 'read') return { bytes: read.bytes };
    if (read.kind === 'too-large') return tooLarge(read.detail);
    return { error: 'not a regular file: not read' };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function tooLarge(detail: string): { invalid: GuardError } {
  return { invalid: new GuardError('FILE_TOO_LARGE', { detail }) };
}
