/**
 * What the PhotoDNA Cloud Service itself accepts (SPEC section 2). Options past these limits are
 * refused when the guard talks to PhotoDNA: the service would answer 3208 or 429 instead.
 */

/** Largest image Match accepts: "4 MB", which the guard reads as 4 MiB (4,194,304 bytes). */
export const PHOTODNA_MAX_FILE_SIZE = 4 * 1024 * 1024;
/** Smallest width and height Match accepts, in pixels. */
export const PHOTODNA_MIN_SIDE = 160;
/** Match calls per second per subscription key. */
export const PHOTODNA_CALLS_PER_SECOND = { v1: 10, v2: 5 } as const;

export interface ServiceLimitIssue {
  path: string[];
  message: string;
}

interface Checked {
  apiVersion?: 'v1' | 'v2';
  limits?: Partial<Record<'maxFileSize' | 'minWidth' | 'minHeight', number | undefined>>;
  rateLimit?: { perSecond?: number | undefined };
}

const ESCAPE = "or give a custom 'matcher' if you check files with another back end";

/** The options that go past what PhotoDNA accepts, each with the service's limit named. */
export function serviceLimitIssues(options: Checked): ServiceLimitIssue[] {
  const issues: ServiceLimitIssue[] = [];
  const { limits = {} } = options;
  if (limits.maxFileSize !== undefined && limits.maxFileSize > PHOTODNA_MAX_FILE_SIZE) {
    issues.push({
      path: ['limits', 'maxFileSize'],
      message: `${limits.maxFileSize} bytes is more than PhotoDNA accepts: Match refuses files over 4 MB (4,194,304 bytes) with 3208. Use at most ${PHOTODNA_MAX_FILE_SIZE}, ${ESCAPE}`,
    });
  }
  for (const side of ['minWidth', 'minHeight'] as const) {
    const value = limits[side];
    if (value !== undefined && value < PHOTODNA_MIN_SIDE) {
      issues.push({
        path: ['limits', side],
        message: `${value} pixels is less than PhotoDNA accepts: Match refuses images under ${PHOTODNA_MIN_SIDE}x${PHOTODNA_MIN_SIDE} with 3208. Use at least ${PHOTODNA_MIN_SIDE}, ${ESCAPE}`,
      });
    }
  }
  const version = options.apiVersion ?? 'v2';
  const allowed = PHOTODNA_CALLS_PER_SECOND[version];
  const perSecond = options.rateLimit?.perSecond;
  if (perSecond !== undefined && perSecond > allowed) {
    issues.push({
      path: ['rateLimit', 'perSecond'],
      message: `${perSecond} calls/s is more than PhotoDNA allows on ${version} (${allowed} per second per subscription key; more answer 429). Use at most ${allowed}; if your subscription allows more, pass matcher: new PhotoDnaClient({ apiKey, rateLimit: { perSecond: ${perSecond} } }).asMatcher()`,
    });
  }
  return issues;
}

/**
 * Longest text the Report endpoint accepts in `OrgName`, `ReporterName` and `ReporteeName` (and a
 * content's `Name`), in Unicode code points (`reportTextLength`); `OrgName` and `ReporterName`
 * are measured without surrounding whitespace. Longer ones are refused with 3002.
 */
export const REPORT_TEXT_MAX_LENGTH = 1_000;
/** Longest `AdditionalMetadata` value (`additionalInfo`) the Report endpoint accepts, in code points. */
export const REPORT_METADATA_VALUE_MAX_LENGTH = 10_000;

/**
 * The length of a Report text as the service counts it: Unicode code points (an emoji outside
 * the Basic Multilingual Plane is one, though JavaScript's `length` says two; a lone surrogate is
 * one).
 */
export function reportTextLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
