/**
 * Files the NCMEC report of a quarantined incident from its stored record and bytes, and writes
 * the outcome back to the record. An incident already reported is not reported again unless
 * forced; concurrent calls for one incident (and one kind, test or real) in this process share
 * one attempt, and calls from other processes (or other store objects on the same directory)
 * wait for the report in flight.
 */

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { STATUS } from '../client/failures.js';
import { InvalidOptionsError, PhotoDnaServiceError, QuarantineError } from '../errors.js';
import { activeClaim, lastSuccessfulReport, unknownReportOutcome } from '../quarantine/record.js';
import type { QuarantineRecord, QuarantineStore, ReportStatus } from '../quarantine/types.js';
import { ncmecSecrets, redact } from '../redact.js';
import type {
  ImageMimeType,
  NcmecCredentials,
  ReportBody,
  ReporterInfo,
  ReportResult,
} from '../types.js';
import { buildReportBody, credentialsOf, missingReporterFields } from './body.js';
import { assertReportFieldsFit } from './field-limits.js';
import { outcomeUnknownOf, ReportOutcomeUnknown } from './outcome-unknown.js';
import { rememberUnnoted, reportKeyOf, unnotedReport } from './unnoted-reports.js';

/** What sends a report: `PhotoDnaClient` satisfies it. */
export interface ReportSender {
  report(
    body: ReportBody,
    credentials: NcmecCredentials,
    options?: { signal?: AbortSignal },
  ): Promise<ReportResult>;
}

export interface ReportQuarantinedArgs {
  store: QuarantineStore;
  id: string;
  sender: ReportSender;
  info: ReporterInfo;
  /**
   * Send again even if the incident was already reported; send even if a reviewer released it
   * as a false positive (refused otherwise, as the console refuses it).
   */
  force?: boolean;
  /**
   * Send even though an earlier attempt of this kind may have reached NCMEC (its outcome is
   * unknown: refused otherwise, with a `ReportOutcomeUnknown` error and nothing sent). An
   * incident already reported is still not sent again (that is `force`, which implies this).
   */
  resendUnknown?: boolean;
  /** Aborts the attempt, the send included (the service may then have the report unnoted). */
  signal?: AbortSignal;
  /**
   * Aborted before the report goes out (while this caller waits on another reporter's claim or on
   * another process's lock of the record, or sooner), ends the attempt with an `AbortError` and nothing sent; once the send has begun it
   * has no effect, so that a report NCMEC received is always recorded. The reviewer CLI aborts it
   * on the first SIGINT or SIGTERM.
   */
  stopBeforeSending?: AbortSignal;
  /**
   * Called when another reporter's claim holds the incident and this attempt waits for it to end
   * (at most until `until`, an ISO date), each time it starts waiting.
   */
  onClaimWait?: (claim: { until: string }) => void;
}

const MAX_ERROR_LENGTH = 500;

/**
 * How long a report claim holds: far longer than one send (the client's default budget is 30 s),
 * short enough that a reporter that crashed holding one delays the others by minutes only.
 */
const CLAIM_MS = 600_000;
/** A report went out but its record could not be updated to say so. */
class ReportNotRecorded extends QuarantineError {}

/** Refuses a report an earlier attempt of the same kind may already have filed, unless told to. */
function assertOutcomeKnown(args: ReportQuarantinedArgs, record: QuarantineRecord): void {
  if (args.force || args.resendUnknown) return;
  const unknown = unknownReportOutcome(record, args.info.isTest === true, Date.now());
  if (unknown !== undefined) throw new ReportOutcomeUnknown(args.id, unknown);
}

/** A new report of an incident a reviewer released as a false positive, not forced. */
class IncidentReleased extends Error {
  override name = 'IncidentReleased';
}

/** How often a reporter waiting on another's claim reads the record again. */
const CLAIM_POLL_MS = 200;

const inFlight = new WeakMap<QuarantineStore, Map<string, Promise<ReportResult>>>();

/**
 * Reports incident `id`. Resolves to the service's answer, or to the stored result (with `raw`
 * the stored `ReportStatus`) when it was already reported and `force` is not set. A failed send
 * is recorded as `'failed'` and rethrown. An incident released as a false positive is not sent
 * unless `force` is set (rejects, nothing recorded).
 */
export async function reportQuarantined(args: ReportQuarantinedArgs): Promise<ReportResult> {
  const missing = missingReporterFields(args.info);
  if (missing.length > 0) {
    throw new InvalidOptionsError(
      `reporter: missing ${missing.join(', ')}`,
      missing.map((key) => `reporter.${key}`),
    );
  }
  // Refused before any claim, record write or send (ReportFieldTooLongError).
  assertReportFieldsFit(args.info);
  const pending = inFlight.get(args.store) ?? new Map<string, Promise<ReportResult>>();
  inFlight.set(args.store, pending);
  // A test report in flight never answers for the real one (nor the real one for a test).
  const key = reportKeyOf(args.id, args.info.isTest === true);
  const running = pending.get(key);
  if (running) {
    if (!args.force) return running;
    await running.catch(() => undefined); // a forced send goes after the one in flight
    return reportQuarantined(args);
  }
  const attempt = attemptReport(args);
  pending.set(key, attempt);
  try {
    return await attempt;
  } finally {
    if (pending.get(key) === attempt) pending.delete(key);
  }
}

/**
 * One report of the incident at a time across every process sharing the store (where the store
 * can claim it): whoever finds another's claim waits for its outcome, then looks again.
 */
async function attemptReport(args: ReportQuarantinedArgs): Promise<ReportResult> {
  const { store, id, info } = args;
  const isTest = info.isTest === true;
  args.stopBeforeSending?.throwIfAborted();
  let current = await store.getRecord(id);
  const stored = lastSuccessfulReport(current, isTest);
  if (stored && !args.force) return storedResult(stored);
  // A report this process filed and could not note holds the claim it was sent under: noting it
  // ends that claim (no wait for it to expire).
  const unnoted = args.force ? undefined : await unnotedReport(id, isTest);
  if (unnoted) return noted(store, id, unnoted);
  if (!store.claimReport) {
    assertOutcomeKnown(args, current);
    return sendOrNote(args);
  }
  const token = randomUUID();
  const stop = waitSignal(args);
  for (;;) {
    // Read before claiming: taking the claim would hide one its holder left (it stopped or
    // crashed, perhaps after sending).
    assertOutcomeKnown(args, current);
    const until = new Date(Date.now() + CLAIM_MS).toISOString();
    // A wait for the record's lock (another process updating it) ends on a stop as well.
    const { held, record } = await store.claimReport(
      id,
      { token, until },
      stop ? { signal: stop } : {},
    );
    if (!held) {
      const claim = activeClaim(record, Date.now());
      if (claim) args.onClaimWait?.({ until: claim.until });
      await claimEnded(store, id, stop);
      current = await store.getRecord(id);
      const filed = lastSuccessfulReport(current, isTest);
      if (filed && !args.force) return storedResult(filed);
      continue;
    }
    try {
      const filed = lastSuccessfulReport(record, isTest);
      if (filed && !args.force) {
        await giveBack(store, id, token);
        return storedResult(filed);
      }
      // An attempt recorded since the record was read (under another's claim) counts too.
      assertOutcomeKnown(args, record);
      return await sendOrNote(args);
    } catch (error) {
      // Given back at once, unless a report went out that the record could not note: the claim
      // then holds until it expires, so that no other process sends a second one meanwhile. (An
      // outcome the record noted ended the claim already.)
      if (!(error instanceof ReportNotRecorded)) {
        await giveBack(store, id, token).catch(() => undefined);
      }
      throw error;
    }
  }
}

function giveBack(store: QuarantineStore, id: string, token: string): Promise<unknown> {
  return store.claimReport?.(id, { token, until: new Date(0).toISOString() }) ?? Promise.resolve();
}

/**
 * What ends a wait on another reporter's claim (or on the record's lock): the caller's signal or
 * its stop before sending.
 */
function waitSignal({ signal, stopBeforeSending }: ReportQuarantinedArgs): AbortSignal | undefined {
  if (signal && stopBeforeSending) return AbortSignal.any([signal, stopBeforeSending]);
  return signal ?? stopBeforeSending;
}

/** Waits until no unexpired claim of another reporter holds the incident. */
async function claimEnded(store: QuarantineStore, id: string, signal?: AbortSignal): Promise<void> {
  for (;;) {
    await sleep(CLAIM_POLL_MS, undefined, signal ? { signal } : {});
    if (!activeClaim(await store.getRecord(id), Date.now())) return;
  }
}

/**
 * A report this process already filed that the record does not note (from the incident's bytes
 * before its evidence was stored, or one whose record update failed) is noted in the record
 * instead of a second report being sent.
 */
async function sendOrNote(args: ReportQuarantinedArgs): Promise<ReportResult> {
  const fromBytes = args.force
    ? undefined
    : await unnotedReport(args.id, args.info.isTest === true);
  return fromBytes ? noted(args.store, args.id, fromBytes) : send(args);
}

/** Notes a report already filed in the record, and answers with it. */
async function noted(
  store: QuarantineStore,
  id: string,
  report: ReportStatus,
): Promise<ReportResult> {
  await store.markReported(id, report);
  return storedResult(report);
}

/** Sends the report from the stored record and bytes, and records the outcome. */
async function send(args: ReportQuarantinedArgs): Promise<ReportResult> {
  const { store, id, sender, info } = args;
  const { record, bytes } = await store.get(id); // checks the bytes against the record's SHA-256
  if (record.released && !args.force) {
    // The console refuses the same (409): a reviewer decided this was no CSAM.
    const reason = record.released.reason ? ` (${JSON.stringify(record.released.reason)})` : '';
    throw new IncidentReleased(
      `incident ${id} was released as a false positive at ${record.released.at}${reason}: not reported (force: true reports it anyway)`,
    );
  }
  const body = buildReportBody(subjectOf(record, bytes), info);
  const isTest = info.isTest === true;
  // The last moment a stop leaves nothing sent (the claim is given back by the caller).
  args.stopBeforeSending?.throwIfAborted();
  // Aborted from here on, the send may have reached the service.
  args.signal?.throwIfAborted();
  let result: ReportResult;
  try {
    result = await sender.report(
      body,
      credentialsOf(info),
      args.signal ? { signal: args.signal } : {},
    );
  } catch (error) {
    const service = error instanceof PhotoDnaServiceError ? error : undefined;
    await store.markReported(id, {
      status: 'failed',
      at: new Date().toISOString(),
      ...(service?.trackingId === undefined ? {} : { trackingId: service.trackingId }),
      ...(service?.statusCode === undefined ? {} : { statusCode: service.statusCode }),
      isTest,
      error: redactCredentials(error instanceof Error ? error.message : String(error), info),
      ...(mayHaveArrived(error, args.signal) ? { outcomeUnknown: true as const } : {}),
    });
    throw error;
  }
  const ok = result.statusCode === STATUS.OK;
  const outcome: ReportStatus = {
    status: ok ? 'reported' : 'failed',
    at: new Date().toISOString(),
    trackingId: result.trackingId,
    statusCode: result.statusCode,
    ...(result.description === undefined ? {} : { description: result.description }),
    isTest,
    ...(ok
      ? {}
      : { error: redactCredentials(`the service answered status ${result.statusCode}`, info) }),
  };
  try {
    await store.markReported(id, outcome);
  } catch (error) {
    rememberUnnoted(id, isTest, result);
    throw new ReportNotRecorded(
      `incident ${id}: the report was sent (tracking id ${result.trackingId}, status ${result.statusCode}) but the record could not be updated`,
      { cause: error },
    );
  }
  if (!ok) {
    throw new Error(
      `incident ${id}: the Report endpoint answered status ${result.statusCode}` +
        (result.description ? ` (${redactCredentials(result.description, info)})` : ''),
    );
  }
  return result;
}

/**
 * Whether a failed send may have reached the service: the sender says so (`outcomeUnknown`, as a
 * `PhotoDnaServiceError` does), or the caller aborted it while it ran.
 */
function mayHaveArrived(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || outcomeUnknownOf(error);
}

/** A stored successful report, in the shape the service's answer had. */
function storedResult(status: ReportStatus): ReportResult {
  return {
    trackingId: status.trackingId ?? '',
    statusCode: status.statusCode ?? STATUS.OK,
    ...(status.description === undefined ? {} : { description: status.description }),
    raw: status,
  };
}

function subjectOf(record: QuarantineRecord, bytes: Buffer) {
  return {
    bytes,
    file: {
      field: record.field,
      originalname: record.originalname,
      mimetype: record.mimetype as ImageMimeType,
      size: record.size,
      width: record.width,
      height: record.height,
      sha256: record.sha256,
    },
    ip: record.ip,
    receivedAt: new Date(record.receivedAt),
  };
}

function redactCredentials(message: string, info: ReporterInfo): string {
  return redact(message, ncmecSecrets(info), MAX_ERROR_LENGTH);
}
