/**
 * Which incidents a purge may remove: only those past their preservation date that were reported
 * (at any time) or released by a reviewer, and whose report is not being sent. Everything else is
 * kept, however old.
 */
import { storedPreserveDays } from './preserve-days.js';
import { activeClaim, lastSuccessfulReport, preservedUntilMs } from './record.js';
import type { QuarantineRecord } from './types.js';

export interface PurgeDecision {
  purge: boolean;
  /** Why, in a few words, for the reviewer CLI. */
  reason: string;
}

export function purgeDecision(record: QuarantineRecord, now: Date = new Date()): PurgeDecision {
  const until = preservationEnd(record);
  // Written so that an invalid `now` or preservation date (NaN) keeps the evidence: fail closed.
  if (!(now.getTime() > until)) {
    const date = Number.isNaN(until)
      ? 'a date that cannot be computed'
      : new Date(until).toISOString();
    return { purge: false, reason: `preserved until ${date}` };
  }
  // A report in flight (its sender holds the claim) must find the evidence and its record when
  // it is filed: the law then preserves it from the report. The claim runs on the real clock.
  if (activeClaim(record, Date.now())) return { purge: false, reason: 'a report is being sent' };
  const reported = lastSuccessfulReport(record) !== undefined;
  if (reported) return { purge: true, reason: 'expired and reported' };
  if (record.released) return { purge: true, reason: 'expired and released' };
  return { purge: false, reason: 'expired but neither reported nor released' };
}

/**
 * When the record's preservation ends (ms; NaN when a date it depends on cannot be computed):
 * `preserveUntil`, and never before the record's own `preserveDays` from its receipt and from its
 * last filed report, which `preserveUntil` already is unless edited by hand or by another tool.
 */
function preservationEnd(record: QuarantineRecord): number {
  const until = Date.parse(record.preserveUntil);
  const days = storedPreserveDays(record.preserveDays);
  if (days === undefined) return until; // a record of a version that did not note its period
  const filed = lastSuccessfulReport(record);
  const fromReceipt = preservedUntilMs(record.receivedAt, days);
  // A filed report without a date (`at`): when its preservation ends cannot be computed.
  const fromReport = filed ? preservedUntilMs(filed.at ?? '', days) : until;
  return Math.max(until, fromReceipt, fromReport);
}
