/**
 * Reports NCMEC accepted that no quarantine record notes (yet), kept by incident id for this
 * process: one filed from a match's bytes (no record existed: a deferred match whose quarantine
 * write failed, announced again under the same id by each later attempt of its job), or one whose
 * record could not be updated after the send. `event.report()` answers a later announcement
 * with it instead of filing another, and `reportQuarantined` notes it in the record rather than
 * sending a second report.
 */
import { STATUS } from '../client/failures.js';
import { processWide } from '../core/process-wide.js';
import type { ReportStatus } from '../quarantine/types.js';
import type { ReportResult } from '../types.js';
import { outcomeUnknownOf, ReportOutcomeUnknown } from './outcome-unknown.js';

/** Incidents remembered at most; the oldest are forgotten first. */
const MAX_KEPT = 10_000;

/** A report sent, with when its answer came. */
interface Filed {
  result: ReportResult;
  at: string;
}

/** A report sent from the bytes that got no answer saying what became of it: NCMEC may have it. */
interface Unknown {
  unknown: string;
}

const filed = processWide(
  'photodna-guard.unnoted-reports',
  () => new Map<string, Promise<Filed | Unknown>>(),
);

/** One incident's report of one kind (test or real): a test report never stands for the real one. */
export function reportKeyOf(id: string, isTest: boolean): string {
  return `${isTest ? 'test' : 'real'}\u0000${id}`;
}

function keep(key: string, entry: Promise<Filed>): void {
  filed.delete(key);
  filed.set(key, entry);
  if (filed.size > MAX_KEPT) filed.delete(filed.keys().next().value as string);
}

/**
 * Sends the report of incident `id` from its bytes unless one was filed (or is being filed) in
 * this process; `force` sends again. Only a report NCMEC accepted is kept; a forced send that
 * fails leaves the one filed before. One whose outcome is unknown (it may have reached NCMEC) is
 * not sent again unless forced: later calls reject with `ReportOutcomeUnknown`.
 */
export function reportFromBytesOnce(
  id: string,
  isTest: boolean,
  force: boolean,
  send: () => Promise<ReportResult>,
): Promise<ReportResult> {
  const key = reportKeyOf(id, isTest);
  const earlier = filed.get(key);
  if (earlier && !force) return earlier.then((done) => resultOf(id, done));
  const attempt = send().then((result) => ({ result, at: new Date().toISOString() }));
  keep(key, attempt);
  const settle = (next: Promise<Filed | Unknown> | undefined) => {
    if (filed.get(key) !== attempt) return;
    if (next) filed.set(key, next);
    else filed.delete(key);
  };
  attempt.then(
    (done) => {
      if (done.result.statusCode !== STATUS.OK) settle(earlier);
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      const unknown = {
        unknown: `the report sent got no answer saying what became of it: ${message}`,
      };
      settle(earlier ?? (outcomeUnknownOf(error) ? Promise.resolve(unknown) : undefined));
    },
  );
  return attempt.then((done) => done.result);
}

function resultOf(id: string, done: Filed | Unknown): ReportResult {
  if ('unknown' in done) throw new ReportOutcomeUnknown(id, done.unknown);
  return done.result;
}

/** A report NCMEC accepted for incident `id` whose record could not note it. */
export function rememberUnnoted(id: string, isTest: boolean, result: ReportResult): void {
  if (result.statusCode !== STATUS.OK) return;
  keep(reportKeyOf(id, isTest), Promise.resolve({ result, at: new Date().toISOString() }));
}

/** The report NCMEC accepted for incident `id` that no record notes yet, as a record notes it. */
export async function unnotedReport(
  id: string,
  isTest: boolean,
): Promise<ReportStatus | undefined> {
  const done = await filed.get(reportKeyOf(id, isTest))?.catch(() => undefined);
  if (!done || 'unknown' in done || done.result.statusCode !== STATUS.OK) return undefined;
  const { result, at } = done;
  return {
    status: 'reported',
    at,
    trackingId: result.trackingId,
    statusCode: result.statusCode,
    ...(result.description === undefined ? {} : { description: result.description }),
    isTest,
  };
}
