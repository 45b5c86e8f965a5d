/**
 * `results.jsonl` is the backfill's journal: one line per finished file, appended and fsync'd in
 * small batches. `--resume` reads it back: finished paths are skipped, known SHA-256 outcomes
 * are reused (a repeated file costs no call, across runs too), `error` lines are tried again,
 * and a torn last line (the process died mid-write) is cut off before appending.
 *
 * Memory: per finished path a 16-byte key (a SHA-256 prefix of the path), per distinct image a
 * 32-byte key (the raw SHA-256) and its outcome: about 150 bytes per file all told in V8 (see
 * bench/README.md for the measured RSS over a million-line manifest).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat, truncate } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fsPath } from './names.js';

export type Outcome = 'clean' | 'match' | 'invalid' | 'error';

export interface ResultLine {
  path: string;
  sha256?: string;
  outcome: Outcome;
  [detail: string]: unknown;
}

/** What is kept per distinct image: enough to write a duplicate's line without a call. */
export type Known = { outcome: 'clean' } | { outcome: 'invalid'; code: string } | MatchKnown;
export interface MatchKnown {
  outcome: 'match';
  trackingId: string;
  matchFlags: unknown;
  quarantineId?: string;
}

const CLEAN: Known = { outcome: 'clean' };
const invalidOf = new Map<string, Known>();

/** A shared object per outcome, so a million clean files cost a map entry each and no more. */
export function knownOf(line: ResultLine): Known | undefined {
  if (line.outcome === 'clean') return CLEAN;
  if (line.outcome === 'invalid') {
    const code = String(line.code ?? 'INVALID_IMAGE');
    let known = invalidOf.get(code);
    if (!known) {
      known = { outcome: 'invalid', code };
      invalidOf.set(code, known);
    }
    return known;
  }
  if (line.outcome === 'match') {
    return {
      outcome: 'match',
      trackingId: String(line.trackingId ?? ''),
      matchFlags: line.matchFlags ?? [],
      ...(typeof line.quarantineId === 'string' ? { quarantineId: line.quarantineId } : {}),
    };
  }
  return undefined;
}

/** The 16-byte key of a path in the finished set (of its bytes: see names.ts). */
export function pathKey(path: string): string {
  return createHash('sha256').update(fsPath(path)).digest().subarray(0, 16).toString('latin1');
}

/** The 32-byte key of an image in the known map. */
export function shaKey(sha256Hex: string): string {
  return Buffer.from(sha256Hex, 'hex').toString('latin1');
}

export interface Journal {
  /** Paths already finished (by `pathKey`). */
  finished: Set<string>;
  /** Outcomes by image (`shaKey`). */
  known: Map<string, Known>;
}

/** Reads an existing journal (for `--resume`) and cuts a torn last line off the file. */
export async function readJournal(path: string): Promise<Journal> {
  const journal: Journal = { finished: new Set(), known: new Map() };
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return journal;
    throw error;
  }
  let goodBytes = 0;
  let offset = 0;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const text of lines) {
    const end = offset + Buffer.byteLength(text) + 1;
    offset = end;
    let line: ResultLine;
    try {
      line = JSON.parse(text) as ResultLine;
    } catch {
      break; // torn: everything from here is dropped
    }
    if (end > size) break; // the last line has no newline: torn
    goodBytes = end;
    const known = knownOf(line);
    if (!known) continue; // 'error': tried again
    journal.finished.add(pathKey(line.path));
    if (line.sha256) journal.known.set(shaKey(line.sha256), known);
  }
  if (goodBytes < size) await truncate(path, goodBytes);
  return journal;
}

/** Appends lines; each batch is written and fdatasync'd before `flush` resolves. */
export class JournalWriter {
  readonly #handle: FileHandle;
  #pending: string[] = [];
  #writing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  static async open(path: string): Promise<JournalWriter> {
    return new JournalWriter(await open(path, 'a', 0o600));
  }

  /** Queues a line; it is on disk within `FLUSH_MS`. */
  append(line: ResultLine): void {
    this.#pending.push(`${JSON.stringify(line)}\n`);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, 100);
  }

  flush(): Promise<void> {
    const batch = this.#pending.join('');
    this.#pending = [];
    if (batch) {
      this.#writing = this.#writing.then(async () => {
        await this.#handle.write(batch);
        await this.#handle.datasync();
      });
    }
    return this.#writing;
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    await this.flush();
    await this.#handle.close();
  }
}
