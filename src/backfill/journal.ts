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
import type { FileHandle } from 'node:fs/promises';
import { QuarantineError } from '../errors.js';
import { openOwnForAppend } from '../open-append.js';
import { printableJson } from '../printable.js';
import { ForeignLockError, withFileLock } from '../quarantine/file-lock.js';
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

/**
 * Runs `task` with the journal at `path` (see `openJournal`), closed after it; while a lock
 * (`<path>.lock`) that refuses a second run at once: two runs appending to one journal would call
 * for the same files twice, and one cutting a torn line off while the other writes would cut the
 * other's lines. A killed run's lock is broken by the next (see file-lock.ts); one another user
 * owns is refused, naming it (not as "another scan").
 */
export async function withJournal<T>(
  path: string,
  resume: boolean,
  task: (journal: Journal, writer: JournalWriter) => Promise<T>,
): Promise<T> {
  let locked = false;
  try {
    return await withFileLock(
      `${path}.lock`,
      async () => {
        locked = true;
        const { journal, writer } = await openJournal(path, resume);
        try {
          return await task(journal, writer);
        } finally {
          await writer.close();
        }
      },
      { timeoutMs: 0 },
    );
  } catch (error) {
    if (locked || !(error instanceof QuarantineError) || error instanceof ForeignLockError) {
      throw error;
    }
    throw new Error(`${path} is being written by another scan: choose another --out`, {
      cause: error,
    });
  }
}

/**
 * The journal at `path`, opened for appending and, with `resume`, read back. Never through a
 * symlink put at the path (ELOOP: appending, or cutting a torn line, would write to the file it
 * points at), never anything but a regular file, and never one another user owns (it could mark
 * files done for `--resume`). Without `resume` a non-empty file is refused;
 * with it, every line must be a result line but a torn last one, which is cut off: a file that is
 * not a journal (`--out` mistyped) is refused as it is, never cut to its first bad line.
 */
async function openJournal(
  path: string,
  resume: boolean,
): Promise<{ journal: Journal; writer: JournalWriter }> {
  const handle = await openOwnForAppend(path, path, 'give --out the file itself');
  try {
    const info = await handle.stat();
    if (!resume && info.size > 0) {
      throw new Error(`${path} exists: pass --resume to continue it, or choose another --out`);
    }
    const journal = resume ? await readJournal(handle, path) : newJournal();
    return { journal, writer: new JournalWriter(handle, path) };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

export function newJournal(): Journal {
  return { finished: new Set(), known: new Map() };
}

/** Reads the journal's lines (bytes, split at newlines) and cuts a torn last line off. */
async function readJournal(handle: FileHandle, path: string): Promise<Journal> {
  const journal = newJournal();
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let rest = Buffer.alloc(0);
  let whole = 0;
  let number = 0;
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const data = Buffer.concat([rest, chunk.subarray(0, bytesRead)]);
    let start = 0;
    for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
      number++;
      const line = resultLineOf(data.subarray(start, end));
      if (!line) {
        throw new Error(
          `${path} line ${number} is not a scan result: not a results journal? (left as it is)`,
        );
      }
      whole += end + 1 - start;
      start = end + 1;
      const known = knownOf(line);
      if (!known) continue; // 'error': tried again
      journal.finished.add(pathKey(line.path));
      if (line.sha256) journal.known.set(shaKey(line.sha256), known);
    }
    rest = Buffer.from(data.subarray(start));
  }
  if (rest.length > 0) {
    if (!isTorn(rest)) {
      throw new Error(
        `${path} ends in a line that is not a scan result: not a results journal? (left as it is)`,
      );
    }
    await handle.truncate(whole);
  }
  return journal;
}

const OUTCOMES: ReadonlySet<unknown> = new Set(['clean', 'match', 'invalid', 'error']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A journal line as written by `JournalWriter`, else undefined. */
function resultLineOf(bytes: Buffer): ResultLine | undefined {
  try {
    const line = JSON.parse(utf8.decode(bytes)) as Partial<ResultLine> | null;
    const ok = typeof line?.path === 'string' && OUTCOMES.has(line.outcome);
    return ok ? (line as ResultLine) : undefined;
  } catch {
    return undefined;
  }
}

/** Every line starts so (`path` is the first key written). */
const LINE_START = Buffer.from('{"path":"');

/**
 * Whether a last line without its newline is one a crash cut short: the start of a result line,
 * or the zeros a file system may leave where a write did not land.
 */
function isTorn(bytes: Buffer): boolean {
  const head = bytes.subarray(0, LINE_START.length);
  return head.equals(LINE_START.subarray(0, head.length)) || bytes.every((byte) => byte === 0);
}

/**
 * Appends lines; each batch is written and fdatasync'd before `flush` resolves. A failed write
 * (disk full, EFBIG) is kept as `failure` and nothing is written after it (a batch after a torn
 * one would leave a bad line inside the journal, which `--resume` refuses): the run stops at it,
 * and `close` throws it.
 */
export class JournalWriter {
  readonly #handle: FileHandle;
  readonly #path: string;
  #pending: string[] = [];
  #writing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #failure: Error | undefined;

  constructor(handle: FileHandle, path: string) {
    this.#handle = handle;
    this.#path = path;
  }

  /** The failed write, once one failed. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Queues a line; it is on disk within 100 ms (dropped after a failed write). */
  append(line: ResultLine): void {
    if (this.#failure) return;
    // `tail -f results.jsonl` prints names the uploader chose: no raw bidi override or C1 control.
    this.#pending.push(`${printableJson(line)}\n`);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, 100);
  }

  /** Writes the queued lines; never rejects (see `failure`). */
  flush(): Promise<void> {
    const batch = this.#pending.join('');
    this.#pending = [];
    if (batch) {
      this.#writing = this.#writing.then(async () => {
        if (this.#failure) return;
        try {
          await this.#handle.write(batch);
          await this.#handle.datasync();
        } catch (error) {
          this.#failure = new Error(
            `could not write ${this.#path} (${(error as Error).message}): its last lines are lost; run again with --resume once it can be written`,
            { cause: error },
          );
        }
      });
    }
    return this.#writing;
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    await this.flush();
    await this.#handle.close();
    if (this.#failure) throw this.#failure;
  }
}
