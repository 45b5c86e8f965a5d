/**
 * One file (or manifest URL) of a backfill: read, validate like an upload (`validateFile`), dedup by SHA-256,
 * match through the rate-limited client, store a match in the quarantine store. Returns its
 * `results.jsonl` line; never throws.
 */

import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { PhotoDnaClient } from '../client/index.js';
import { validateFile } from '../core/validate-file.js';
import { isHttpUrl } from '../download.js';
import { type GuardError, toGuardError } from '../errors.js';
import type { Limits } from '../options.js';
import type { QuarantineStore } from '../quarantine/types.js';
import { INVALID_CODES, incidentIdOf } from '../queue/job-results.js';
import { redactUrl } from '../redact.js';
import type { FileFacts, MatchResult } from '../types.js';
import { type Known, knownOf, type ResultLine, shaKey } from './journal.js';
import { type FileEntry, readItem } from './sources.js';

export interface BackfillDeps {
  client: PhotoDnaClient | undefined;
  store: QuarantineStore | undefined;
  limits: Limits;
  /** Outcomes by image (`shaKey`), finished ones. */
  known: Map<string, Known>;
  /** Images being checked right now: a duplicate waits for the first instead of calling. */
  pending: Map<string, Promise<Known | undefined>>;
  dryRun: boolean;
}

export interface FileResult {
  line: ResultLine;
  /** Whether a PhotoDNA call was made for it. */
  called: boolean;
  duplicate: boolean;
}

export async function scanBackfillFile(deps: BackfillDeps, file: FileEntry): Promise<FileResult> {
  const { path } = file;
  const read = await readItem(file, deps.limits.maxFileSize);
  if ('invalid' in read) return invalidLine(path, undefined, read.invalid);
  if ('error' in read) return result({ path, outcome: 'error', detail: read.error });
  const { bytes } = read;
  const originalname = isHttpUrl(path) ? basename(new URL(path).pathname) : basename(path);
  let facts: FileFacts;
  try {
    facts = await validateFile({ field: 'file', originalname, bytes }, deps.limits);
  } catch (error) {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return invalidLine(path, sha256, toGuardError(error));
  }
  const key = shaKey(facts.sha256);
  const seen = deps.known.get(key) ?? (await deps.pending.get(key));
  if (seen) return { line: lineOf(path, facts, seen, true), called: false, duplicate: true };
  if (deps.dryRun) {
    deps.known.set(key, { outcome: 'clean' });
    return {
      line: { path, sha256: facts.sha256, outcome: 'clean' },
      called: false,
      duplicate: false,
    };
  }
  let settle: (known: Known | undefined) => void = () => undefined;
  deps.pending.set(
    key,
    new Promise((resolve) => {
      settle = resolve;
    }),
  );
  try {
    const line = await check(deps, path, facts, bytes);
    const known = knownOf(line);
    if (known) deps.known.set(key, known);
    settle(known);
    return { line, called: true, duplicate: false };
  } finally {
    deps.pending.delete(key);
    settle(undefined);
  }
}

async function check(
  deps: BackfillDeps,
  path: string,
  facts: FileFacts,
  bytes: Buffer,
): Promise<ResultLine> {
  let answer: Awaited<ReturnType<PhotoDnaClient['match']>>;
  try {
    answer = await (deps.client as PhotoDnaClient).match(bytes, facts.mimetype);
  } catch (error) {
    const guardError = toGuardError(error);
    if (INVALID_CODES.has(guardError.code)) return invalidLine(path, facts.sha256, guardError).line;
    return {
      path,
      sha256: facts.sha256,
      outcome: 'error',
      code: guardError.code,
      ...(guardError.reason ? { reason: guardError.reason } : {}),
      detail: guardError.detail ?? guardError.message,
    };
  }
  if (!answer.isMatch) return lineOf(path, facts, { outcome: 'clean' }, false, answer.trackingId);
  const known: Known = {
    outcome: 'match',
    trackingId: answer.trackingId,
    matchFlags: answer.matchFlags,
  };
  if (deps.store) {
    try {
      known.quarantineId = await quarantine(deps.store, path, facts, bytes, answer);
    } catch (error) {
      // Not stored: an error line, so that --resume tries it again.
      return {
        path,
        sha256: facts.sha256,
        outcome: 'error',
        code: 'SCAN_UNAVAILABLE',
        reason: 'store-failure',
        detail: (error as Error).message,
      };
    }
  }
  return lineOf(path, facts, known, false);
}

/** Stores a match; its incident id is fixed by the image, so a resumed run finds it. */
async function quarantine(
  store: QuarantineStore,
  path: string,
  file: FileFacts,
  bytes: Buffer,
  answer: MatchResult,
): Promise<string> {
  const id = incidentIdOf(`backfill:${file.sha256}`);
  const existing = await store.getRecord(id).catch(() => undefined);
  if (existing) return existing.id;
  const url = isHttpUrl(path) ? redactUrl(path) : undefined;
  const record = await store.put(
    {
      id,
      receivedAt: new Date(),
      route: `backfill:${url ?? path}`,
      ...(url === undefined ? {} : { sourceUrl: url }),
      method: 'SCAN',
      ip: '',
      file,
      trackingId: answer.trackingId,
      matchFlags: answer.matchFlags,
      policy: 'quarantine',
    },
    bytes,
  );
  return record.id;
}

function lineOf(
  path: string,
  facts: FileFacts,
  known: Known,
  duplicate: boolean,
  trackingId?: string,
): ResultLine {
  const line: ResultLine = {
    path,
    sha256: facts.sha256,
    outcome: known.outcome,
    mimetype: facts.mimetype,
    size: facts.size,
    width: facts.width,
    height: facts.height,
  };
  if (known.outcome === 'invalid') line.code = known.code;
  if (known.outcome === 'match') {
    line.trackingId = known.trackingId;
    line.matchFlags = known.matchFlags;
    if (known.quarantineId) line.quarantineId = known.quarantineId;
  }
  if (trackingId) line.trackingId = trackingId;
  if (duplicate) line.duplicate = true;
  return line;
}

function invalidLine(path: string, sha256: string | undefined, error: GuardError): FileResult {
  return result({
    path,
    ...(sha256 ? { sha256 } : {}),
    outcome: 'invalid',
    code: error.code,
    ...(error.detail ? { detail: error.detail } : {}),
  });
}

function result(line: ResultLine): FileResult {
  return { line, called: false, duplicate: false };
}
