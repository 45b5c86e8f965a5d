/**
 * Which incidents a purge may remove: only those past `preserveUntil` that were reported (at any
 * time) or released by a reviewer. Everything else is kept, however old.
 */
import { lastSuccessfulReport } from './record.js';
import type { QuarantineRecord } from './types.js';

export interface PurgeDecision {
  purge: boolean;
  /** Why, in a few words, for the reviewer CLI. */
  reason: string;
}

export function purgeDecision(record: QuarantineRecord, now: Date = new Date()): PurgeDecision {
  if (now.getTime() <= Date.parse(record.preserveUntil)) {
    return { purge: false, reason: `preserved until ${record.preserveUntil}` };
  }
  const reported = lastSuccessfulReport(record) !== undefined;
  if (reported) return { purge: true, reason: 'expired and reported' };
  if (record.released) return { purge: true, reason: 'expired and released' };
  return { purge: false, reason: 'expired but neither reported nor released' };
}
