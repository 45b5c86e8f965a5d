/**
 * Reports filed from a match's bytes, where no quarantine record could note them, kept by
 * incident id for this process. A deferred match whose quarantine write failed is announced
 * again, under the same id, by each later attempt of its job: `event.report()` then answers with
 * the report already filed instead of filing another, and once the evidence is stored its record
 * notes that report rather than a second one being sent.
 */
import { processWide } from '../core/process-wide.js';
import type { ReportStatus } from '../quarantine/types.js';
import type { ReportResult } from '../types.js';

/** Incidents remembered at most; the oldest are forgotten first. */
const MAX_KEPT = 10_000;

/** PhotoDNA's `Status.Code` for success. */
const STATUS_OK = 3000;

/** A report sent, with when its answer came. */
interface Filed {
  result: ReportResult;
  at: string;
}

const filed = processWide(
  'photodna-guard.reports-from-bytes',
  () => new Map<string, Promise<Filed>>(),
);

function keyOf(id: string, isTest: boolean): string {
  return `${isTest ? 'test' : 'real'}\u0000${id}`;
}

/**
 * Sends the report of incident `id` unless one was filed (or is being filed) from its bytes in
 * this process; `force` sends again. Only a report NCMEC accepted is kept.
 */
export function reportFromBytesOnce(
  id: string,
  isTest: boolean,
  force: boolean,
  send: () => Promise<ReportResult>,
): Promise<ReportResult> {
  const key = keyOf(id, isTest);
  const earlier = filed.get(key);
  if (earlier && !force) return earlier.then((done) => done.result);
  const attempt = send().then((result) => ({ result, at: new Date().toISOString() }));
  filed.delete(key);
  filed.set(key, attempt);
  if (filed.size > MAX_KEPT) filed.delete(filed.keys().next().value as string);
  const forget = () => {
    if (filed.get(key) === attempt) filed.delete(key);
  };
  attempt.then((done) => {
    if (done.result.statusCode !== STATUS_OK) forget();
  }, forget);
  return attempt.then((done) => done.result);
}

/** The report NCMEC accepted for incident `id` from its bytes in this process, as a record notes it. */
export async function reportFiledFromBytes(
  id: string,
  isTest: boolean,
): Promise<ReportStatus | undefined> {
  const done = await filed.get(keyOf(id, isTest))?.catch(() => undefined);
  if (!done || done.result.statusCode !== STATUS_OK) return undefined;
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
