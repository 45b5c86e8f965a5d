/**
 * The incident record: built from an `Incident` on `put`, checked field by field when read back
 * (a record on disk is input like any other), and updated by report and release.
 */
import { createHash } from 'node:crypto';
import { QuarantineError } from '../errors.js';
import { storedPreserveDays } from './preserve-days.js';
import type { Incident, QuarantineRecord, ReportClaim, ReportStatus } from './types.js';

const DAY_MS = 86_400_000;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const PDQ_HEX = /^[0-9a-f]{64}$/;
const REPORT_STATES: ReadonlySet<string> = new Set(['not-reported', 'reported', 'failed']);
const POLICIES: ReadonlySet<string> = new Set(['block', 'quarantine', 'flag']);

/**
 * The end of a preservation period of `days` from `from`: `days` later, and never before the same
 * date as many whole years later (`days / 365`, rounded down): 365 days from a date before a leap
 * day would end a day short of the law's one year.
 */
export function preservedUntil(from: string | Date, days: number): string {
  return new Date(preservedUntilMs(from, days)).toISOString();
}

/** `preservedUntil` in ms since the epoch; NaN when there is no such date (past the last one). */
export function preservedUntilMs(from: string | Date, days: number): number {
  const end = new Date(from).getTime() + days * DAY_MS;
  const years = new Date(from);
  years.setUTCFullYear(years.getUTCFullYear() + Math.floor(days / 365));
  // NaN when either is past the last date there is (`new Date` holds none beyond it).
  return Math.max(years.getTime(), new Date(end).getTime());
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The record for a new incident; throws a `QuarantineError` when the bytes contradict the facts. */
export function createRecord(
  incident: Incident,
  bytes: Uint8Array,
  preserveDays: number,
): QuarantineRecord {
  const { file } = incident;
  if (!(incident.receivedAt instanceof Date) || Number.isNaN(incident.receivedAt.getTime())) {
    throw new QuarantineError(`incident ${incident.id}: receivedAt is not a valid Date`);
  }
  if (bytes.length !== file.size) {
    throw new QuarantineError(
      `incident ${incident.id}: ${bytes.length} bytes given but the file facts say ${file.size}`,
    );
  }
  if (typeof file.sha256 !== 'string' || sha256Hex(bytes) !== file.sha256.toLowerCase()) {
    throw new QuarantineError(`incident ${incident.id}: the bytes do not match the file's SHA-256`);
  }
  const receivedAt = incident.receivedAt.toISOString();
  return {
    version: 1,
    id: incident.id,
    receivedAt,
    route: incident.route,
    method: incident.method,
    ip: incident.ip,
    ...(incident.network === undefined ? {} : { network: { ...incident.network } }),
    ...(incident.userAgent === undefined ? {} : { userAgent: incident.userAgent }),
    field: file.field,
    originalname: file.originalname,
    mimetype: file.mimetype,
    size: file.size,
    width: file.width,
    height: file.height,
    sha256: file.sha256.toLowerCase(),
    ...(file.pdq === undefined ? {} : { pdq: { ...file.pdq } }),
    ...(incident.sourceUrl === undefined ? {} : { sourceUrl: incident.sourceUrl }),
    trackingId: incident.trackingId,
    matchFlags: incident.matchFlags.map((flag) => ({ ...flag, violations: [...flag.violations] })),
    policy: incident.policy,
    ...(incident.scanned === undefined ? {} : { scanned: { ...incident.scanned } }),
    preserveUntil: preservedUntil(receivedAt, preserveDays),
    preserveDays,
    report: { status: 'not-reported' },
  };
}

/** The record with `report` as the latest attempt; earlier attempts move to `reportHistory`. */
export function withReport(
  record: QuarantineRecord,
  report: ReportStatus,
  preserveDays: number,
): QuarantineRecord {
  if (!REPORT_STATES.has(report?.status)) {
    throw new QuarantineError(`incident ${record.id}: unknown report status`);
  }
  const at = report.at ?? new Date().toISOString();
  // The attempt's outcome ends the claim its sender held.
  const { reporting: _claim, ...unclaimed } = record;
  const next: QuarantineRecord = { ...unclaimed, report: { ...report, at } };
  if (record.report.status !== 'not-reported') {
    next.reportHistory = [...(record.reportHistory ?? []), record.report];
  }
  if (report.status === 'reported') {
    // The period the record was stored with, if longer: a reviewer's tool opened with another
    // (the CLI's default) never shortens what the server was configured to keep.
    const days = Math.max(preserveDays, storedPreserveDays(record.preserveDays) ?? 0);
    const fromReport = preservedUntil(at, days);
    if (Date.parse(fromReport) > Date.parse(record.preserveUntil)) next.preserveUntil = fromReport;
  }
  return next;
}

/**
 * `claim` applied to the record: taken unless another token holds an unexpired claim, given back
 * (with `until` not after `now`) only by its own token. `next` is the record to write, if any.
 */
export function withClaim(
  record: QuarantineRecord,
  claim: ReportClaim,
  now: number,
): { held: boolean; next: QuarantineRecord | undefined } {
  if (typeof claim?.token !== 'string' || !isIsoDate(claim.until)) {
    throw new QuarantineError(
      `incident ${record.id}: a report claim needs a token and an ISO until`,
    );
  }
  const current = activeClaim(record, now);
  if (current && current.token !== claim.token) return { held: false, next: undefined };
  const { reporting: _previous, ...unclaimed } = record;
  if (Date.parse(claim.until) <= now) {
    return { held: false, next: record.reporting === undefined ? undefined : unclaimed };
  }
  return {
    held: true,
    next: { ...unclaimed, reporting: { token: claim.token, until: claim.until } },
  };
}

/** The record's report claim, if one is well formed and not expired at `now`. */
export function activeClaim(record: QuarantineRecord, now: number): ReportClaim | undefined {
  const claim = record.reporting as Partial<ReportClaim> | undefined;
  if (typeof claim !== 'object' || claim === null || typeof claim.token !== 'string')
    return undefined;
  const until = typeof claim.until === 'string' ? Date.parse(claim.until) : Number.NaN;
  return until > now ? { token: claim.token, until: claim.until as string } : undefined;
}

/**
 * Why a report of this kind (test or real; either with `isTest` left out) might file the incident
 * with NCMEC a second time, or `undefined`: the latest attempt of the kind failed after its
 * request left, with no answer saying what became of it (`outcomeUnknown`); or a reporter claimed
 * the incident and never recorded an outcome (its claim expired: it stopped or crashed, perhaps
 * after sending). A claim still held is not one: whoever waits on it learns its outcome.
 */
export function unknownReportOutcome(
  record: QuarantineRecord,
  isTest: boolean | undefined,
  now: number,
): string | undefined {
  if (record.reporting !== undefined && !activeClaim(record, now)) {
    const until = (record.reporting as Partial<ReportClaim> | null)?.until;
    return `a reporter claimed it to send its report and never recorded an outcome (it stopped or crashed; its claim ran out${typeof until === 'string' ? ` at ${until}` : ''})`;
  }
  const attempts = [...(record.reportHistory ?? []), record.report];
  const latest =
    isTest === undefined
      ? record.report
      : attempts.findLast(
          (entry) => entry.status !== 'not-reported' && (entry.isTest === true) === isTest,
        );
  if (latest?.status !== 'failed' || latest.outcomeUnknown !== true) return undefined;
  const why = latest.error ? `: ${latest.error}` : '';
  return `the report sent at ${latest.at ?? 'an unknown time'} got no answer saying what became of it${why}`;
}

/**
 * The last report NCMEC accepted. A report to NCMEC's test endpoint files nothing: it counts
 * only with `includeTest` (showing it, or repeating a test), never for the purge nor for a real
 * report, which is then still sent.
 */
export function lastSuccessfulReport(
  record: QuarantineRecord,
  includeTest = false,
): ReportStatus | undefined {
  const filed = (entry: ReportStatus) =>
    entry.status === 'reported' && (includeTest || entry.isTest !== true);
  if (filed(record.report)) return record.report;
  return (record.reportHistory ?? []).findLast(filed);
}

/** Parses and checks a record file; anything malformed → `QuarantineError`. */
export function parseRecord(text: string, id: string): QuarantineRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new QuarantineError(`the record of incident ${id} is not valid JSON`, { cause: error });
  }
  const problem = findProblem(value, id);
  if (problem) throw new QuarantineError(`the record of incident ${id} is malformed: ${problem}`);
  const record = value as QuarantineRecord;
  // Bounded, not refused: a record left out of `list()` for it would put evidence out of sight.
  const days = storedPreserveDays(record.preserveDays);
  if (days !== undefined) record.preserveDays = days;
  return record;
}

function findProblem(value: unknown, id: string): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const r = value as Record<string, unknown>;
  if (r.version !== 1) return 'unknown version';
  if (r.id !== id) return 'id does not match the file name';
  for (const key of ['route', 'method', 'ip', 'field', 'originalname', 'mimetype', 'trackingId']) {
    if (typeof r[key] !== 'string') return `${key} is not a string`;
  }
  if (r.userAgent !== undefined && typeof r.userAgent !== 'string')
    return 'userAgent is not a string';
  if (r.sourceUrl !== undefined && typeof r.sourceUrl !== 'string')
    return 'sourceUrl is not a string';
  for (const key of ['size', 'width', 'height']) {
    const n = r[key];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return `${key} is not a count`;
  }
  if (typeof r.sha256 !== 'string' || !SHA256_HEX.test(r.sha256)) return 'sha256 is not hex';
  if (r.pdq !== undefined && !isPdq(r.pdq)) return 'pdq is malformed';
  if (r.scanned !== undefined && !isScannedCopy(r.scanned)) return 'scanned is malformed';
  if (!isIsoDate(r.receivedAt)) return 'receivedAt is not a date';
  if (!isIsoDate(r.preserveUntil)) return 'preserveUntil is not a date';
  if (typeof r.policy !== 'string' || !POLICIES.has(r.policy)) return 'unknown policy';
  if (!Array.isArray(r.matchFlags) || !r.matchFlags.every(isMatchFlag)) {
    return 'matchFlags is malformed';
  }
  if (!isReportStatus(r.report)) return 'report is malformed';
  if (r.reportHistory !== undefined) {
    if (!Array.isArray(r.reportHistory) || !r.reportHistory.every(isReportStatus)) {
      return 'reportHistory is malformed';
    }
  }
  if (r.released !== undefined) {
    const released = r.released as Record<string, unknown> | null;
    if (typeof released !== 'object' || released === null || !isIsoDate(released.at)) {
      return 'released is malformed';
    }
  }
  return undefined;
}

/**
 * One flag as far as the console and reports read it: an object with a list of violations.
 * Lenient on purpose: a record that fails here is skipped by `list()`, and evidence must not go
 * out of sight for a field nobody reads.
 */
function isMatchFlag(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { violations?: unknown }).violations)
  );
}

function isPdq(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { hash, quality } = value as Record<string, unknown>;
  return typeof hash === 'string' && PDQ_HEX.test(hash) && typeof quality === 'number';
}

function isScannedCopy(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    (c.sanitize === 'metadata' || c.sanitize === 'reencode') &&
    typeof c.sha256 === 'string' &&
    SHA256_HEX.test(c.sha256) &&
    typeof c.mimetype === 'string' &&
    [c.size, c.width, c.height].every((n) => typeof n === 'number' && Number.isSafeInteger(n))
  );
}

function isIsoDate(value: unknown): boolean {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

function isReportStatus(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const status = (value as Record<string, unknown>).status;
  return typeof status === 'string' && REPORT_STATES.has(status);
}
