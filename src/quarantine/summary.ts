/**
 * A one-line, human-readable summary of records, as `photodna-guard quarantine list` prints
 * them: id, received time, route, SHA-256 prefix, policy, report status, release and
 * preservation date. Never anything of the image but its hash prefix.
 */
import { lastSuccessfulReport } from './record.js';
import type { QuarantineRecord } from './types.js';

export const SUMMARY_HEADER = [
  'ID',
  'RECEIVED',
  'ROUTE',
  'SHA256',
  'POLICY',
  'REPORT',
  'RELEASED',
  'PRESERVE-UNTIL',
] as const;

/** The report column: the latest attempt, and whether a report was ever filed. */
export function reportLabel(record: QuarantineRecord): string {
  const filed = lastSuccessfulReport(record, true);
  const label =
    filed && record.report.status === 'failed' ? 'reported; resend failed' : record.report.status;
  return (filed ?? record.report).isTest ? `${label} (test)` : label;
}

export function summarize(record: QuarantineRecord): string[] {
  return [
    record.id,
    record.receivedAt,
    `${record.method} ${record.route}`,
    record.sha256.slice(0, 12),
    record.policy,
    reportLabel(record),
    record.released?.at ?? 'no',
    record.preserveUntil,
  ];
}

/**
 * Control characters, line breaks and bidi overrides: a backfill's route holds a stored file's
 * path, whose name the uploader chose, and printed raw one could forge a row with a newline or
 * erase one with a terminal escape.
 */
const UNPRINTABLE = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/gu;

/** A cell with each unprintable character as its `\uXXXX` escape. */
function printable(cell: string): string {
  return cell.replace(
    UNPRINTABLE,
    (char) => `\\u${(char.codePointAt(0) as number).toString(16).padStart(4, '0')}`,
  );
}

/** Rows as left-aligned columns separated by two spaces, one line each. */
export function formatTable(unsafe: ReadonlyArray<ReadonlyArray<string>>): string {
  const rows = unsafe.map((row) => row.map(printable));
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => row[col]?.length ?? 0)));
  return rows
    .map((row) =>
      row
        .map((cell, col) => cell.padEnd(widths?.[col] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
