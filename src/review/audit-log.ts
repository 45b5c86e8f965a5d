/**
 * The append-only audit log of reviewers' actions: one JSON line per action (who, when, what,
 * the record's state before and after), each line carrying the SHA-256 of the previous line's
 * entry (`prev`) and of itself (`hash`), so an edited, inserted or deleted line breaks the chain.
 * Appends from several processes are serialized by a lock file; each is one fsync'd write.
 */
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { openOwnForAppend } from '../open-append.js';
import { isNotFound, readRegularFile, syncDir } from '../quarantine/atomic-file.js';
import { withFileLock } from '../quarantine/file-lock.js';

/** `prev` of the first entry. */
export const GENESIS = '0'.repeat(64);
/** The log's name inside a file store's directory. */
export const AUDIT_FILE = 'audit.log';

const NEWLINE = 0x0a;

export type AuditAction = 'report' | 'release' | 'purge';

/** What a caller records; the log adds `seq`, `at`, `prev` and `hash`. */
export interface AuditInput {
  /** Who acted: the console's authorized user, or `cli:<os user>`. */
  actor: string;
  action: AuditAction;
  incident: string;
  /** Whether the action took effect (`false`: refused or failed; `detail` says why). */
  ok: boolean;
  before: unknown;
  after: unknown;
  detail?: string;
}

export interface AuditEntry extends AuditInput {
  seq: number;
  at: string;
  prev: string;
  hash: string;
}

export type AuditVerification =
  | { ok: true; entries: number; head: string }
  | { ok: false; entries: number; line: number; reason: string };

export interface AuditLog {
  readonly path: string;
  append(input: AuditInput): Promise<AuditEntry>;
  /**
   * Throws unless an entry could be appended (a symlink or a FIFO at the path, no permission):
   * checked before a reviewer's action, so that none is taken (a report sent) whose entry is then
   * refused. A log without it is not checked.
   */
  assertWritable?(): Promise<void>;
  /** Every entry, oldest first (unverified; use `verify`). */
  read(): Promise<AuditEntry[]>;
  /** Checks every line's hash and link; names the first bad line (1-based). */
  verify(): Promise<AuditVerification>;
}

export function createAuditLog(path: string): AuditLog {
  const label = `the audit log ${path}`;
  const opened = () => openOwnForAppend(path, label, 'put the log itself at that path');

  /** For reading it (`read`, `verify`): a symlink is followed, as `cat` would; nothing is written. */
  async function lines(): Promise<string[]> {
    try {
      // Anything but a regular file is refused, not read.
      const bytes = await readRegularFile(path, { followSymlinks: true });
      if (!bytes) throw new Error(`${label} is not a regular file`);
      return linesOf(bytes);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  return {
    path,

    append(input) {
      return withFileLock(`${path}.lock`, async () => {
        // Read and appended to on one descriptor: never through a symlink planted at the path
        // (the entry would be written into the file it points at), only a regular file.
        const handle = await opened();
        let all: string[];
        let entry: AuditEntry;
        try {
          const bytes = await handle.readFile();
          all = linesOf(bytes);
          // A line a crash cut short (no newline, not an entry) stays where it is, for `verify`
          // to name; the entry goes on its own line and follows the last whole entry.
          const torn = bytes.length > 0 && bytes[bytes.length - 1] !== NEWLINE;
          const unsealed = {
            seq: all.length + 1,
            at: new Date().toISOString(),
            ...input,
            prev: lastEntry(all)?.hash ?? GENESIS,
          };
          entry = { ...unsealed, hash: hashOf(unsealed) };
          // Whole, however many writes the OS takes for it (`write` may write part of it).
          await handle.writeFile(`${torn ? '\n' : ''}${JSON.stringify(entry)}\n`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        // The log's first entry made the file: its directory entry made durable too.
        if (all.length === 0) await syncDir(dirname(path));
        return entry;
      });
    },

    async assertWritable() {
      await (await opened()).close();
    },

    async read() {
      return (await lines()).flatMap((line) => parseLine(line) ?? []);
    },

    async verify() {
      const all = await lines();
      let prev = GENESIS;
      for (const [index, line] of all.entries()) {
        const problem = lineProblem(line, index + 1, prev);
        if (problem) return { ok: false, entries: all.length, line: index + 1, reason: problem };
        prev = (parseLine(line) as AuditEntry).hash;
      }
      return { ok: true, entries: all.length, head: prev };
    },
  };
}

/** The log's lines; a final newline ends the last one rather than starting an empty one. */
function linesOf(bytes: Buffer): string[] {
  const text = bytes.toString('utf8');
  return text.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1);
}

/** The newest line that is an entry. */
function lastEntry(lines: readonly string[]): AuditEntry | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const entry = parseLine(lines[i] as string);
    if (entry) return entry;
  }
  return undefined;
}

function lineProblem(line: string, seq: number, prev: string): string | undefined {
  const entry = parseLine(line);
  if (!entry) return 'not a JSON entry';
  const { hash, ...unsealed } = entry;
  if (hashOf(unsealed) !== hash) return 'the entry does not match its hash (edited)';
  if (entry.prev !== prev)
    return 'the entry does not follow the previous one (inserted, removed or reordered)';
  if (entry.seq !== seq) return `sequence number ${entry.seq} where ${seq} was expected`;
  return undefined;
}

function parseLine(line: string): AuditEntry | undefined {
  try {
    const value = JSON.parse(line) as AuditEntry;
    return typeof value === 'object' && value !== null && typeof value.hash === 'string'
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

function hashOf(unsealed: object): string {
  return createHash('sha256').update(JSON.stringify(unsealed)).digest('hex');
}
