/**
 * Which incidents a purge may remove: only those past `preserveUntil` that were reported (at any
 * time) or released by a reviewer, and whose report is not being sent. Everything else is kept,
 * however old.
 */
import { activeClaim, lastSuccessfulReport } from './record.js';
import type { QuarantineRecord } from './types.js';

export interface PurgeDecision {
  purge: boolean;
  /** Why, in a few words, for the reviewer CLI. */
  reason: string;
}

export function purgeDecision(record: QuarantineRecord, now: Date = new Date()): PurgeDecision {
  // Written so that an invalid `now` or `preserveUntil` (NaN) keeps the evidence: fail closed.
  if (!(now.getTime() > Date.parse(record.preserveUntil))) {
    return { purge: false, reason: `preserved until ${record.preserveUntil}` };
  }
  // A report in flight (its sender holds the claim) must find the evidence and its record when
  // it is filed: the law then preserves it from the report. The claim runs on the real clock.
  if (activeClaim(record, Date.now())) return { purge: false, reason: 'a report is being sent' };
  const reported = lastSuccessfulReport(record) !== undefined;
  if (reported) return { purge: true, reason: 'expired and reported' };
  if (record.released) return { purge: true, reason: 'expired and released' };
  return { purge: false, reason: 'expired but neither reported nor released' };
}
