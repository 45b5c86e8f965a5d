import { createHash } from 'node:crypto';
import type { EmulatorReport } from './types.js';

/** How much of the accepted reports the emulator keeps (`reportLog` option). */
export interface ReportLogLimits {
  /** Reports kept in each of `reports` and `testReports`; the oldest goes first. */
  max: number;
  /** Base64 characters of images kept per report; the rest are replaced by a summary. */
  maxImageChars: number;
}

/**
 * The report as kept: its body with every image `Value` past the report's image budget replaced
 * by a short summary (length and SHA-256 of the base64 text), so that a flood of reports of 4 MiB
 * images holds at most `max` × `maxImageChars` characters of images.
 */
export function retainedReport(report: EmulatorReport, limits: ReportLogLimits): EmulatorReport {
  const body = report.body as { ViolationContentCollection?: unknown };
  const violations = body.ViolationContentCollection;
  if (!Array.isArray(violations)) return report;
  let budget = limits.maxImageChars;
  const kept = violations.map((violation: unknown) => {
    const value = (violation as { Value?: unknown }).Value;
    if (typeof value !== 'string') return violation;
    if (value.length <= budget) {
      budget -= value.length;
      return violation;
    }
    budget = 0;
    const sha256 = createHash('sha256').update(value).digest('hex');
    return {
      ...(violation as object),
      Value: `[not kept: ${value.length} base64 characters, sha256 of the text ${sha256}]`,
    };
  });
  return { ...report, body: { ...body, ViolationContentCollection: kept } };
}

/** Appends to a ring of at most `max` entries (in place: callers hold the array). */
export function pushBounded<T>(list: T[], item: T, max: number): void {
  if (max === 0) return;
  if (list.length >= max) list.splice(0, list.length - max + 1);
  list.push(item);
}
