/**
 * What the console shows of an incident: a whitelist of the record's fields. Never the image,
 * never a path or link to it, and not the client's file name (it can describe the content).
 * Filtering and paging of the incident list live here too.
 */
import { purgeDecision } from '../quarantine/purge-policy.js';
import { lastSuccessfulReport, unknownReportOutcome } from '../quarantine/record.js';
import type { QuarantineRecord, ReportStatus } from '../quarantine/types.js';
import { pdqOf } from '../review/allow-list.js';
import type { MatchFlag } from '../types.js';

export interface IncidentView {
  id: string;
  receivedAt: string;
  route: string;
  method: string;
  ip: string;
  userAgent: string | null;
  field: string;
  mimetype: string;
  size: number;
  width: number;
  height: number;
  sha256: string;
  pdq: string | null;
  trackingId: string;
  matchFlags: MatchFlag[];
  policy: string;
  preserveUntil: string;
  /** `not-reported`, `reported`, `failed`, or `released`-independent report state. */
  reportStatus: ReportStatus['status'];
  reportedAt: string | null;
  reportIsTest: boolean;
  /**
   * Why NCMEC may have a report the record does not note (the last attempt got no answer saying
   * what became of it, or its reporter never recorded one), or null: another report could file
   * the incident twice.
   */
  reportOutcomeUnknown: string | null;
  released: { at: string; reason: string | null } | null;
  purgeAllowed: boolean;
  purgeReason: string;
}

export interface IncidentDetail extends IncidentView {
  reportHistory: ReportStatus[];
  report: ReportStatus;
}

export function incidentView(record: QuarantineRecord, now: Date = new Date()): IncidentView {
  const filed = lastSuccessfulReport(record, true);
  const purge = purgeDecision(record, now);
  return {
    id: record.id,
    receivedAt: record.receivedAt,
    route: record.route,
    method: record.method,
    ip: record.ip,
    userAgent: record.userAgent ?? null,
    field: record.field,
    mimetype: record.mimetype,
    size: record.size,
    width: record.width,
    height: record.height,
    sha256: record.sha256,
    pdq: pdqOf(record) ?? null,
    trackingId: record.trackingId,
    matchFlags: record.matchFlags.map((flag) => ({
      source: String(flag.source),
      violations: flag.violations.map(String),
      ...(flag.matchDistance === undefined ? {} : { matchDistance: flag.matchDistance }),
      ...(flag.matchId === undefined ? {} : { matchId: String(flag.matchId) }),
    })),
    policy: record.policy,
    preserveUntil: record.preserveUntil,
    reportStatus: record.report.status,
    reportedAt: filed?.at ?? null,
    reportIsTest: (filed ?? record.report).isTest === true,
    reportOutcomeUnknown: unknownReportOutcome(record, undefined, now.getTime()) ?? null,
    released: record.released
      ? { at: record.released.at, reason: record.released.reason ?? null }
      : null,
    purgeAllowed: purge.purge,
    purgeReason: purge.reason,
  };
}

export function incidentDetail(record: QuarantineRecord, now: Date = new Date()): IncidentDetail {
  return {
    ...incidentView(record, now),
    report: reportView(record.report),
    reportHistory: (record.reportHistory ?? []).map(reportView),
  };
}

function reportView(status: ReportStatus): ReportStatus {
  const { status: state, at, trackingId, statusCode, description, isTest, error } = status;
  const view: ReportStatus = {
    status: state,
    at,
    trackingId,
    statusCode,
    description,
    isTest,
    error,
  };
  if (status.outcomeUnknown === true) view.outcomeUnknown = true;
  return view;
}

export const STATUS_FILTERS = [
  'all',
  'open',
  'not-reported',
  'reported',
  'failed',
  'released',
] as const;
export type StatusFilter = (typeof STATUS_FILTERS)[number];

export interface IncidentQuery {
  status: StatusFilter;
  /** Received on or after this day (YYYY-MM-DD, UTC). */
  from?: string;
  /** Received on or before this day (YYYY-MM-DD, UTC). */
  to?: string;
  /** A match flag source (e.g. `NCMEC`, `Test`), case-insensitive. */
  source?: string;
  page: number;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The query from URL parameters; unknown or malformed values fall back to "no filter". */
export function parseQuery(params: URLSearchParams): IncidentQuery {
  const status = params.get('status') ?? 'all';
  const page = Number(params.get('page') ?? '1');
  const day = (name: string) => {
    const value = params.get(name) ?? '';
    return DAY.test(value) && !Number.isNaN(Date.parse(value)) ? value : undefined;
  };
  const source = (params.get('source') ?? '').trim().slice(0, 100);
  return {
    status: (STATUS_FILTERS as readonly string[]).includes(status)
      ? (status as StatusFilter)
      : 'all',
    ...(day('from') ? { from: day('from') } : {}),
    ...(day('to') ? { to: day('to') } : {}),
    ...(source ? { source } : {}),
    page: Number.isSafeInteger(page) && page >= 1 ? page : 1,
  };
}

function matchesStatus(view: IncidentView, status: StatusFilter): boolean {
  switch (status) {
    case 'all':
      return true;
    case 'open':
      // A report to NCMEC's test endpoint files nothing: the incident is still to be reported.
      return view.released === null && (view.reportedAt === null || view.reportIsTest);
    case 'released':
      return view.released !== null;
    default:
      return view.reportStatus === status;
  }
}

/** Newest first, filtered, one page. */
export function selectIncidents(
  records: QuarantineRecord[],
  query: IncidentQuery,
  pageSize: number,
  now: Date = new Date(),
) {
  const from = query.from ? Date.parse(`${query.from}T00:00:00.000Z`) : -Infinity;
  const to = query.to ? Date.parse(`${query.to}T23:59:59.999Z`) : Infinity;
  const source = query.source?.toLowerCase();
  const items = records
    .map((record) => incidentView(record, now))
    .filter((view) => {
      const at = Date.parse(view.receivedAt);
      if (at < from || at > to) return false;
      if (source && !view.matchFlags.some((flag) => flag.source.toLowerCase() === source))
        return false;
      return matchesStatus(view, query.status);
    })
    .reverse();
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const page = Math.min(query.page, pages);
  return {
    total: items.length,
    page,
    pages,
    pageSize,
    items: items.slice((page - 1) * pageSize, page * pageSize),
  };
}
