/**
 * A reviewer's actions on one incident — report to NCMEC, release as a false positive, purge —
 * each written to the audit log with the record's state before and after, whether it took
 * effect or not. The reviewer CLI and the moderators' console both act through these.
 */
import { toError } from '../errors.js';
import type { PurgeDecision } from '../quarantine/purge-policy.js';
import { lastSuccessfulReport } from '../quarantine/record.js';
import type { QuarantineRecord, QuarantineStore } from '../quarantine/types.js';
import { ncmecSecrets, redact } from '../redact.js';
import { type ReportQuarantinedArgs, reportQuarantined } from '../report/from-record.js';
import type { ReportResult } from '../types.js';
import {
  type AllowListOptions,
  allowRecord,
  assertAllowListWritable,
  notAllowable,
  pdqOf,
} from './allow-list.js';
import type { AuditAction, AuditLog } from './audit-log.js';

const MAX_DETAIL = 500;

export interface Reviewer {
  store: QuarantineStore;
  audit: AuditLog;
  /** Who acts, as the audit log names them. */
  actor: string;
}

/** The part of a record the audit log keeps: its review state, never bytes or file names. */
export function auditState(record: QuarantineRecord | undefined) {
  if (!record) return null;
  const filed = lastSuccessfulReport(record, true);
  return {
    report: record.report.status,
    ...(filed ? { reportedAt: filed.at, reportTrackingId: filed.trackingId } : {}),
    ...(record.report.isTest ? { isTest: true } : {}),
    released: record.released ?? null,
    preserveUntil: record.preserveUntil,
  };
}

export async function reportIncident(
  reviewer: Reviewer,
  id: string,
  send: Omit<ReportQuarantinedArgs, 'store' | 'id'>,
): Promise<ReportResult> {
  const secrets = ncmecSecrets(send.info);
  return audited(reviewer, 'report', id, secrets, async () => {
    const result = await reportQuarantined({ store: reviewer.store, id, ...send });
    const test = send.info.isTest ? ' (test endpoint)' : '';
    return { value: result, detail: `tracking id ${result.trackingId}${test}` };
  });
}

export async function releaseIncident(
  reviewer: Reviewer,
  id: string,
  reason: string | undefined,
  allowList?: AllowListOptions,
): Promise<QuarantineRecord> {
  return audited(reviewer, 'release', id, [], async (before) => {
    const hashed = allowList && !before.released && pdqOf(before) !== undefined;
    const refused = hashed ? notAllowable(before) : undefined;
    // Checked first: a release whose hash then could not be listed would stay unlisted.
    const listing = hashed && refused === undefined ? allowList : undefined;
    if (listing) await assertAllowListWritable(listing);
    const record = await reviewer.store.release(id, reason);
    const allowed = listing ? await allowRecord(listing, record) : undefined;
    const detail = before.released ? 'was already released' : `reason: ${reason ?? '(none)'}`;
    const listed = allowed
      ? `; allow-listed ${allowed}`
      : refused
        ? `; not allow-listed: ${refused}`
        : '';
    return { value: record, detail: `${detail}${listed}` };
  });
}

/** Purges one incident if the preservation rules allow it; an early purge is refused (and audited). */
export async function purgeIncident(
  reviewer: Reviewer,
  id: string,
  now: Date = new Date(),
): Promise<PurgeDecision> {
  const { store } = reviewer;
  return audited(reviewer, 'purge', id, [], async () => {
    const decision: PurgeDecision = store.purge
      ? await store.purge(id, now)
      : { purge: false, reason: 'this store has no purge(id) method; use purgeExpired' };
    return { value: decision, ok: decision.purge, detail: decision.reason, gone: decision.purge };
  });
}

/**
 * Audits an action refused before it was tried (the console refuses to report an incident
 * released as a false positive): the record's state, unchanged, and why.
 */
export async function auditRefusal(
  reviewer: Reviewer,
  action: AuditAction,
  record: QuarantineRecord,
  detail: string,
): Promise<void> {
  const state = auditState(record);
  await reviewer.audit.append({
    actor: reviewer.actor,
    action,
    incident: record.id,
    ok: false,
    before: state,
    after: state,
    detail: redact(detail, [], MAX_DETAIL),
  });
}

interface Outcome<T> {
  value: T;
  ok?: boolean;
  detail: string;
  /** The record no longer exists. */
  gone?: boolean;
}

/** Runs one action and appends its audit entry, also when it fails (then rethrows). */
async function audited<T>(
  reviewer: Reviewer,
  action: AuditAction,
  id: string,
  secrets: Array<string | undefined>,
  run: (before: QuarantineRecord) => Promise<Outcome<T>>,
): Promise<T> {
  const { store, audit, actor } = reviewer;
  const before = await store.getRecord(id);
  // An action the log could not record is not taken: no report sent unaudited.
  await audit.assertWritable?.();
  let outcome: Outcome<T>;
  try {
    outcome = await run(before);
  } catch (error) {
    const after = await store.getRecord(id).catch(() => undefined);
    await audit.append({
      actor,
      action,
      incident: id,
      ok: false,
      before: auditState(before),
      after: auditState(after),
      detail: redact(toError(error).message, secrets, MAX_DETAIL),
    });
    throw error;
  }
  const after = outcome.gone ? undefined : await store.getRecord(id);
  await audit.append({
    actor,
    action,
    incident: id,
    ok: outcome.ok ?? true,
    before: auditState(before),
    after: auditState(after),
    detail: redact(outcome.detail, secrets, MAX_DETAIL),
  });
  return outcome.value;
}
