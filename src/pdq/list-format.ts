/**
 * Parses PDQ hash lists in the forms deployers receive them:
 *
 * - one hash per line, `pdq <hex>` (python-threatexchange's file exchange) or bare `<hex>`, with
 *   blank lines and `#` comments; words after the hash are kept as the entry's `note`;
 * - CSV with a header row: the hash column is the first named `pdq`, `pdq_hash`, `hash`,
 *   `signal_value` or `signal` (any case); every other column is kept as metadata.
 *
 * A malformed line fails the whole list with its line number, so that a half-written file never
 * replaces a good list.
 */
import { isPdqHex } from './hash-hex.js';

/** One hash of a list, with the metadata its file gave it. */
export interface PdqListEntry {
  /** 64 lowercase hex digits. */
  hash: string;
  /** Other CSV columns by header name, or `note` for words after the hash on a plain line. */
  metadata: Readonly<Record<string, string>>;
}

export class PdqListFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PdqListFormatError';
  }
}

const HASH_COLUMNS = ['pdq', 'pdq_hash', 'hash', 'signal_value', 'signal'];

/** Splits CSV text into rows of fields (RFC 4180: quotes, doubled quotes, quoted newlines). */
function csvRows(text: string): Array<{ line: number; fields: string[] }> {
  const rows: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      rows.push({ line: rowLine, fields });
      fields = [];
      field = '';
      line++;
      rowLine = line;
    } else {
      field += ch;
    }
  }
  if (quoted) throw new PdqListFormatError(`line ${rowLine}: unterminated quoted field`);
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    rows.push({ line: rowLine, fields });
  }
  return rows.filter((row) => !(row.fields.length === 1 && row.fields[0]?.trim() === ''));
}

function parseCsv(text: string): PdqListEntry[] {
  const all = csvRows(text);
  const comment = (row: { fields: string[] }) => row.fields[0]?.trimStart().startsWith('#');
  // Comments before the header; after it, a row starting with '#' is a comment only when it
  // holds no hash: a data row whose first field starts with '#' (an id like '#1017') is data.
  while (all[0] && comment(all[0])) all.shift();
  const header = all.shift();
  if (!header) return [];
  const names = header.fields.map((name) => name.trim());
  const lower = names.map((name) => name.toLowerCase());
  const hashAt = HASH_COLUMNS.map((name) => lower.indexOf(name)).find((at) => at !== -1);
  if (hashAt === undefined) {
    throw new PdqListFormatError(
      `line ${header.line}: no hash column in the CSV header (expected one of ${HASH_COLUMNS.join(', ')})`,
    );
  }
  const rows = all.filter(
    (row) => !comment(row) || isPdqHex((row.fields[hashAt] ?? '').trim().toLowerCase()),
  );
  return rows.map(({ line, fields }) => {
    const hash = (fields[hashAt] ?? '').trim().toLowerCase();
    if (!isPdqHex(hash)) throw new PdqListFormatError(`line ${line}: not a 64-digit hex PDQ hash`);
    const metadata: Record<string, string> = {};
    names.forEach((name, i) => {
      if (i !== hashAt && name !== '') metadata[name] = fields[i] ?? '';
    });
    return { hash, metadata };
  });
}

/**
 * CRLF, LF or a lone CR (classic Mac), as the CSV reader takes them: split on LF alone, a CR-only
 * file would be one line, its first hash noted with every later one, which would never match.
 */
const LINE_BREAK = /\r\n|\r|\n/;

function parseLines(text: string): PdqListEntry[] {
  const entries: PdqListEntry[] = [];
  text.split(LINE_BREAK).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const words = line.split(/\s+/);
    const first = (words[0] as string).toLowerCase();
    const hash = (first === 'pdq' ? (words[1] ?? '') : first).toLowerCase();
    if (!isPdqHex(hash)) throw new PdqListFormatError(`line ${i + 1}: not a 64-digit hex PDQ hash`);
    const note = words.slice(first === 'pdq' ? 2 : 1).join(' ');
    entries.push({ hash, metadata: note === '' ? {} : { note } });
  });
  return entries;
}

/** Whether the first meaningful line is a CSV header (has a comma). */
function looksLikeCsv(text: string): boolean {
  for (const raw of text.split(LINE_BREAK, 50)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    return line.includes(',');
  }
  return false;
}

export type PdqListFormat = 'lines' | 'csv';

/** Parses a list's text; the format is detected unless given. */
export function parsePdqList(text: string, format?: PdqListFormat): PdqListEntry[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return (format ?? (looksLikeCsv(body) ? 'csv' : 'lines')) === 'csv'
    ? parseCsv(body)
    : parseLines(body);
}
