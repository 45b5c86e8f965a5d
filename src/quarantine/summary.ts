/**
 * A one-line, human-readable summary of records, as `photodna-guard quarantine list` prints
 * them: id, received time, route, SHA-256 prefix, policy, report status, release and
 * preservation date. Never anything of the image but its hash prefix.
 */
import { printable } from '../printable.js';
import { lastSuccessfulReport, unknownReportOutcome } from './record.js';
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

/**
 * The report column: the latest attempt, whether a report was ever filed, and whether NCMEC may
 * have one the record does not note.
 */
export function reportLabel(record: QuarantineRecord): string {
  const filed = lastSuccessfulReport(record, true);
  const label =
    filed && record.report.status === 'failed' ? 'reported; resend failed' : record.report.status;
  const kind = (filed ?? record.report).isTest ? `${label} (test)` : label;
  return unknownReportOutcome(record, undefined, Date.now()) === undefined
    ? kind
    : `${kind}; may have reached NCMEC`;
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
 * Rows as left-aligned columns separated by two spaces, one line each, printable (a route holds
 * a backfilled file's path, whose name the uploader chose).
 */
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
