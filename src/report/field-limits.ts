/**
 * The reporter fields PhotoDNA's Report endpoint bounds, checked before anything is sent: a
 * report the service would refuse (3002, "not filed") is refused here at once, naming the field
 * and its limit. The one check every way of reporting shares (`event.report()`, the reviewer CLI,
 * the console, `reportQuarantined`), with the limits the emulator enforces.
 */
import { InvalidOptionsError } from '../errors.js';
import {
  REPORT_METADATA_VALUE_MAX_LENGTH,
  REPORT_TEXT_MAX_LENGTH,
  reportTextLength,
} from '../service-limits.js';
import type { ReporterInfo } from '../types.js';

/** Longest value of each bounded reporter field, in Unicode code points. */
export const REPORT_FIELD_LIMITS = {
  orgName: REPORT_TEXT_MAX_LENGTH,
  reporterName: REPORT_TEXT_MAX_LENGTH,
  reporteeName: REPORT_TEXT_MAX_LENGTH,
  additionalInfo: REPORT_METADATA_VALUE_MAX_LENGTH,
} as const satisfies Partial<Record<keyof ReporterInfo, number>>;

export type BoundedReportField = keyof typeof REPORT_FIELD_LIMITS;

/** One field past its limit: its name and lengths, never its value (it may be personal data). */
export interface TooLongReportField {
  field: BoundedReportField;
  /** Its length in Unicode code points, as the report would send it. */
  length: number;
  limit: number;
  /** How much of `length` the guard added itself (its note in `additionalInfo`). */
  added: number;
}

/** Fields the service measures without surrounding whitespace (it trims them). */
const TRIMMED: ReadonlySet<BoundedReportField> = new Set(['orgName', 'reporterName']);

const count = (n: number) => n.toLocaleString('en-US');

/**
 * A report refused before sending: a reporter field is longer than the Report endpoint accepts.
 * An `InvalidOptionsError` (paths `reporter.<field>`); the message names each field, its length
 * and its limit, never its text.
 */
export class ReportFieldTooLongError extends InvalidOptionsError {
  readonly fields: readonly TooLongReportField[];

  constructor(fields: readonly TooLongReportField[]) {
    const parts = fields.map((found) => tooLongText(found));
    super(
      `report not sent: ${parts.join('; ')}`,
      fields.map(({ field }) => `reporter.${field}`),
    );
    this.name = 'ReportFieldTooLongError';
    this.fields = fields;
  }
}

/** One field past its limit, in words: `name` (default `reporter.<field>`) and counts, never the text. */
export function tooLongText(found: TooLongReportField, name = `reporter.${found.field}`): string {
  const { length, limit, added } = found;
  const note =
    added > 0
      ? ` (${count(added)} of them the guard's note that the uploader's IP address is unknown)`
      : '';
  return `${name} is ${count(length)} characters${note}, over the ${count(limit)} the Report endpoint accepts`;
}

/**
 * The bounded fields of `info` past their limits, measured as the service measures them.
 * `added` says how many code points of a field's text the guard added itself (for the message).
 */
export function tooLongReportFields(
  info: Partial<ReporterInfo>,
  added: Partial<Record<BoundedReportField, number>> = {},
): TooLongReportField[] {
  const found: TooLongReportField[] = [];
  for (const [field, limit] of Object.entries(REPORT_FIELD_LIMITS) as Array<
    [BoundedReportField, number]
  >) {
    const value: unknown = info?.[field];
    if (typeof value !== 'string') continue;
    const length = reportTextLength(TRIMMED.has(field) ? value.trim() : value);
    if (length > limit) found.push({ field, length, limit, added: added[field] ?? 0 });
  }
  return found;
}

/** Throws `ReportFieldTooLongError` when a bounded field of `info` is past its limit. */
/**
 * Reporter defaults an API takes when it is made (`createConsole`, `createScanWorker`): past what
 * the Report endpoint accepts, every report filed with them would be refused, so they are refused
 * then, each field named (`<api>: reporter.<field> is ...`), not at the first report.
 */
export function assertReporterDefaultsFit(
  api: string,
  reporter: Partial<ReporterInfo> | undefined,
): void {
  const found = tooLongReportFields(reporter ?? {});
  if (found.length === 0) return;
  throw new InvalidOptionsError(
    `${api}: ${found.map((field) => tooLongText(field)).join('; ')}`,
    found.map(({ field }) => `reporter.${field}`),
  );
}

export function assertReportFieldsFit(
  info: Partial<ReporterInfo>,
  added: Partial<Record<BoundedReportField, number>> = {},
): void {
  const found = tooLongReportFields(info, added);
  if (found.length > 0) throw new ReportFieldTooLongError(found);
}
