/**
 * A report whose outcome nobody knows: its request left and no answer said what became of it.
 * NCMEC may have it, so another report of the same incident could file it twice.
 */

/**
 * A report refused because an earlier attempt of the same kind may have reached NCMEC: sending
 * again could file the incident twice. Nothing was sent or recorded.
 */
export class ReportOutcomeUnknown extends Error {
  override name = 'ReportOutcomeUnknown';
  /** As on a `PhotoDnaServiceError`: NCMEC may have the report. */
  readonly outcomeUnknown = true;
  constructor(
    readonly incident: string,
    /** What left the outcome unknown. */
    readonly detail: string,
    /** How to send it anyway, in the caller's terms. */
    anyway = 'force: true (reportQuarantined: resendUnknown: true) sends it anyway',
  ) {
    super(
      `incident ${incident}: its report may have reached NCMEC already (${detail}); nothing was sent, since another report could file it twice. Ask NCMEC first; ${anyway}`,
    );
  }
}

/** Whether a failed send may have reached the service, as the sender's error says (`outcomeUnknown`). */
export function outcomeUnknownOf(error: unknown): boolean {
  return (error as { outcomeUnknown?: unknown } | null)?.outcomeUnknown === true;
}
