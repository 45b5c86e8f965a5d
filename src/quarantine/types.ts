import type { ClientNetwork } from '../core/client-address.js';
/**
 * The quarantine store contract: what the guard hands a store on a match under policy
 * `'quarantine'`, the JSON record kept per incident, and the interface any storage back end
 * implements. The file-system store is `createFileQuarantineStore` (`./fs-store.ts`).
 */
import type { FileFacts, MatchFlag, PdqFacts, Policy } from '../types.js';
import type { PurgeDecision } from './purge-policy.js';

/** What the guard hands the store on a match under policy `'quarantine'`. */
export interface Incident {
  /** The guard's incident id (a uuid); also the `MatchEvent` id. */
  id: string;
  receivedAt: Date;
  route: string;
  method: string;
  /** The uploader's IP (derived from the host's trust settings when valid, else the peer's). */
  ip: string;
  /** Peer, forwarding headers as received, derived address. */
  network?: ClientNetwork;
  userAgent?: string;
  file: FileFacts;
  trackingId: string;
  matchFlags: MatchFlag[];
  policy: Policy;
  /** Where a deferred `url` job's image was downloaded from, query string redacted. */
  sourceUrl?: string;
  /** Set when `sanitize` changed the upload: `file` and the bytes are the upload, this the copy checked. */
  scanned?: ScannedCopy;
}

/**
 * What was checked (and handed on) when the route's `sanitize` step changed the upload: the
 * quarantine keeps the upload as validated (the evidence), and notes the sanitized copy here.
 */
export interface ScannedCopy {
  sanitize: 'metadata' | 'reencode';
  /** Hex SHA-256 of the checked bytes (the match was found on them). */
  sha256: string;
  size: number;
  mimetype: string;
  width: number;
  height: number;
}

/** The outcome of the latest NCMEC report attempt for an incident. */
export interface ReportStatus {
  status: 'not-reported' | 'reported' | 'failed';
  /** ISO time of the attempt. */
  at?: string;
  /** The Report endpoint's tracking id. */
  trackingId?: string;
  /** The service's status code (3000 = OK). */
  statusCode?: number;
  /** The service's status description, when it gave one. */
  description?: string;
  /** Whether the report went to NCMEC's test endpoint. */
  isTest?: boolean;
  /** Why the attempt failed; never contains credentials. */
  error?: string;
  /**
   * Set on a failed attempt whose request left and got no answer saying what became of it (a
   * timeout or reset once sent, a 5xx, an unreadable answer): NCMEC may have the report. No
   * reporter sends this kind (test or real) again until told to (`resendUnknown` or `force`).
   */
  outcomeUnknown?: true;
}

/** The JSON record kept per incident (`<id>.json` in the file store). */
export interface QuarantineRecord {
  version: 1;
  id: string;
  /** ISO time the upload was received. */
  receivedAt: string;
  route: string;
  method: string;
  ip: string;
  /** Peer, forwarding headers as received, derived address (records from 0.x may lack it). */
  network?: ClientNetwork;
  userAgent?: string;
  field: string;
  /** The client's file name: data only, never used to build a path. */
  originalname: string;
  /** The type sniffed from the bytes. */
  mimetype: string;
  size: number;
  width: number;
  height: number;
  /** Hex SHA-256 of the stored bytes; `get` checks it. */
  sha256: string;
  /** The PDQ hash and quality, when a PDQ back end hashed the file (for NCMEC / StopNCII sharing). */
  pdq?: PdqFacts;
  /** Where a deferred `url` job's image was downloaded from, query string redacted. */
  sourceUrl?: string;
  trackingId: string;
  matchFlags: MatchFlag[];
  policy: Policy;
  /** The sanitized copy that was checked, when `sanitize` changed the upload (the stored bytes are the upload's). */
  scanned?: ScannedCopy;
  /**
   * ISO: `receivedAt + preserveDays`; a successful report moves it to at least
   * `report time + preserveDays` (the legal preservation period runs from the report). Never
   * before the same date as many whole years later (`preserveDays / 365`): 365 days across a
   * leap day would be a day short of one year.
   */
  preserveUntil: string;
  /**
   * The preservation period the store was configured with when it kept the incident (records
   * from before 0.1 may lack it). A report recorded by a store opened with a shorter one (the
   * reviewer CLI's default) still extends `preserveUntil` by this many days. Read back bounded:
   * one out of range or no number (a hand edit) reads as 36,500, never as a shorter period.
   */
  preserveDays?: number;
  /** The latest report attempt. */
  report: ReportStatus;
  /** Earlier report attempts, oldest first (a forced re-send never erases a filed report). */
  reportHistory?: ReportStatus[];
  /** Set when a reviewer released the incident; the evidence is still kept until `preserveUntil`. */
  released?: { at: string; reason?: string };
  /**
   * Set while a report is being sent (`claimReport`): whoever else wants to report the incident
   * waits for its outcome instead of sending a second report. Cleared by `markReported`; a claim
   * past `until` (its holder crashed) no longer counts.
   */
  reporting?: ReportClaim;
}

/** The right to send one incident's report, held until `until` (ISO) by whoever made `token`. */
export interface ReportClaim {
  token: string;
  until: string;
}

/** Storage for quarantined uploads. Implement it to keep evidence somewhere else than local disk. */
export interface QuarantineStore {
  /** Stores the bytes and the record; durable (fsync'd + renamed + dir fsync'd) before it resolves. */
  put(incident: Incident, bytes: Buffer): Promise<QuarantineRecord>;
  /** Verifies the bytes' SHA-256 against the record; mismatch or unknown id → `QuarantineError`. */
  get(id: string): Promise<{ record: QuarantineRecord; bytes: Buffer }>;
  getRecord(id: string): Promise<QuarantineRecord>;
  /** Complete incidents only, oldest first. */
  list(): Promise<QuarantineRecord[]>;
  /** Records a report attempt; also ends a report claim (`reporting`). */
  markReported(id: string, report: ReportStatus): Promise<QuarantineRecord>;
  /**
   * Optional: takes the right to send incident `id`'s report, atomically across every process
   * sharing the store, unless another unexpired claim holds it; with `claim.until` in the past,
   * gives back a claim made with the same token. Resolves to the record as it now is and whether
   * this token holds it. Without it, `reportQuarantined` keeps one report at a time per store
   * object only: two processes reporting the same incident at once may both send. `signal`,
   * aborted while the claim waits (the file store: behind this process's other updates of the
   * record, or on another process's lock of it), ends the call at once with the signal's reason
   * and nothing written.
   */
  claimReport?(
    id: string,
    claim: ReportClaim,
    options?: { signal?: AbortSignal },
  ): Promise<{ held: boolean; record: QuarantineRecord }>;
  /** Marks the incident reviewed/released; the evidence is kept until `preserveUntil`. */
  release(id: string, reason?: string): Promise<QuarantineRecord>;
  /** Removes only incidents past `preserveUntil` that were reported or released; returns their ids. */
  purgeExpired(now?: Date): Promise<string[]>;
  /**
   * Optional: removes one incident if `purgeDecision` allows it (past `preserveUntil`, and
   * reported or released) and returns the decision; `purge: false` means it was kept. The
   * moderators' console needs it to purge a single incident.
   */
  purge?(id: string, now?: Date): Promise<PurgeDecision>;
}

export interface FileQuarantineStoreOptions {
  /** The directory; created `0700` if missing, tightened to `0700` if looser. */
  dir: string;
  /** Days to keep evidence after receipt (and after a report), at most 36,500. Defaults to 365. */
  preserveDays?: number;
}

/** The file-system store: the interface plus two diagnostics for reviewers. */
export interface FileQuarantineStore extends QuarantineStore {
  /** The store's directory (absolute). */
  readonly dir: string;
  purge(id: string, now?: Date): Promise<PurgeDecision>;
  claimReport(
    id: string,
    claim: ReportClaim,
    options?: { signal?: AbortSignal },
  ): Promise<{ held: boolean; record: QuarantineRecord }>;
  /**
   * Ids whose image exists without a record: a `put` interrupted between its two renames (the
   * guard answered 503). Never listed as incidents and never deleted automatically.
   */
  incomplete(): Promise<string[]>;
}

const STORE_METHODS = [
  'put',
  'get',
  'getRecord',
  'list',
  'markReported',
  'release',
  'purgeExpired',
] as const;

/** Whether `value` has every `QuarantineStore` method (for the guard's option validation). */
export function isQuarantineStore(value: unknown): value is QuarantineStore {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return STORE_METHODS.every((name) => typeof candidate[name] === 'function');
}
