import { randomUUID } from 'node:crypto';
import { GuardError, toError, underlyingError } from '../errors.js';
import type { RouteConfig } from '../options.js';
import type { ScannedCopy } from '../quarantine/types.js';
import { redactUrl } from '../redact.js';
import type { FileFacts, MatchResult, Policy } from '../types.js';
import { rejectAfter, withTimeout } from './abortable.js';
import { createMatchEvent, type ReportingDeps } from './match-event.js';
import type { RequestContext } from './request-context.js';
import type { Original } from './sanitize.js';

/** What a match needs to know of its request (a deferred scan has no live request). */
export type IncidentContext = Pick<
  RequestContext,
  'route' | 'routePattern' | 'method' | 'ip' | 'network' | 'userAgent' | 'receivedAt'
>;

export interface MatchedFile {
  file: FileFacts;
  bytes: Buffer;
  result: MatchResult;
  /**
   * The upload as validated, when the route's `sanitize` step changed it: the quarantine keeps
   * these bytes as evidence (and notes the checked copy's facts); events get the checked copy.
   */
  original?: Original;
  /**
   * A match found by a deferred scan: its incident id is derived from the job (so a job run
   * again after a crash finds its incident already stored instead of storing it twice).
   */
  deferred?: DeferredMatch;
}

/** What a deferred scan adds to its match. */
export interface DeferredMatch {
  incidentId: string;
  scanId: string;
  metadata?: Record<string, unknown>;
  /** The image URL of a `url` job (the quarantine record keeps it redacted). */
  url?: string;
}

/**
 * Applies the policy to the matched files of one request: stores them first under 'quarantine'
 * (durably, before anything answers), then runs `match` listeners and `onMatch` within
 * `hookTimeoutMs`. Resolves to the error the request must answer with when the store failed.
 */
export async function handleMatches(
  deps: ReportingDeps,
  ctx: IncidentContext,
  route: RouteConfig,
  policy: Policy,
  matches: MatchedFile[],
): Promise<GuardError | undefined> {
  let failure: GuardError | undefined;
  await Promise.all(
    matches.map(async (match) => {
      const id = match.deferred?.incidentId ?? randomUUID();
      let quarantineId: string | undefined;
      if (policy === 'quarantine') {
        const stored = await storeMatch(deps, ctx, route, match, id);
        // Each file's failure is reported; the request answers with the first.
        if (stored instanceof GuardError) failure ??= stored;
        else quarantineId = stored;
      }
      const event = createMatchEvent(deps, ctx, match, policy, {
        id,
        ...(quarantineId === undefined ? {} : { quarantineId }),
        ...(match.deferred ? { deferred: match.deferred } : {}),
      });
      await runHooks(deps, route, event);
    }),
  );
  return failure;
}

/**
 * Stores matches that were already announced (a first guard let them through under 'flag'; a
 * stricter route behind it quarantines them): durably, before anything answers, each with its
 * `quarantine` event and no second `match`. Resolves to the error to answer with if one failed.
 */
export async function storeMatches(
  deps: ReportingDeps,
  ctx: IncidentContext,
  route: RouteConfig,
  matches: readonly MatchedFile[],
): Promise<GuardError | undefined> {
  const stored = await Promise.all(
    matches.map((match) => storeMatch(deps, ctx, route, match, randomUUID())),
  );
  return stored.find((outcome) => outcome instanceof GuardError);
}

/** One match stored within `scanTimeoutMs`: its record's id, or the failure (already reported). */
async function storeMatch(
  deps: ReportingDeps,
  ctx: IncidentContext,
  route: RouteConfig,
  match: MatchedFile,
  id: string,
): Promise<string | GuardError> {
  try {
    return await rejectAfter(
      quarantine(deps, ctx, match, id),
      route.scanTimeoutMs,
      () => new Error(`the quarantine store did not finish within ${route.scanTimeoutMs} ms`),
    );
  } catch (error) {
    return storeFailure(deps, ctx, match.file, error);
  }
}

async function quarantine(
  deps: ReportingDeps,
  ctx: IncidentContext,
  match: MatchedFile,
  id: string,
): Promise<string> {
  if (!deps.store)
    throw new Error("policy 'quarantine' was chosen but no quarantine store is configured");
  if (match.deferred) {
    // A deferred job run again after a crash: its incident is already stored.
    const stored = await deps.store.getRecord(id).catch(() => undefined);
    if (stored) return stored.id;
  }
  const { original } = match;
  const record = await deps.store.put(
    {
      id,
      receivedAt: ctx.receivedAt,
      route: ctx.route,
      method: ctx.method,
      ip: ctx.ip,
      network: ctx.network,
      ...(ctx.userAgent === undefined ? {} : { userAgent: ctx.userAgent }),
      file: original ? { ...original.file, ...pdqOf(match.file) } : match.file,
      trackingId: match.result.trackingId,
      matchFlags: match.result.matchFlags,
      policy: 'quarantine',
      ...(match.deferred?.url === undefined ? {} : { sourceUrl: redactUrl(match.deferred.url) }),
      ...(original ? { scanned: scannedCopy(match.file, original.sanitize) } : {}),
    },
    original ? original.bytes : match.bytes,
  );
  deps.events.emit('quarantine', { record });
  return record.id;
}

/** The PDQ facts of the checked copy, for the record of the upload it came from. */
function pdqOf(file: FileFacts): { pdq?: FileFacts['pdq'] } {
  return file.pdq ? { pdq: file.pdq } : {};
}

function scannedCopy(file: FileFacts, sanitize: 'metadata' | 'reencode'): ScannedCopy {
  const { sha256, size, mimetype, width, height } = file;
  return { sanitize, sha256, size, mimetype, width, height };
}

function storeFailure(
  deps: ReportingDeps,
  ctx: IncidentContext,
  file: FileFacts,
  error: unknown,
): GuardError {
  const guardError = new GuardError('SCAN_UNAVAILABLE', {
    reason: deps.store ? 'store-failure' : 'not-configured',
    detail: `quarantine write failed: ${error instanceof Error ? error.message : String(error)}`,
    cause: error,
  });
  deps.events.emit('error', {
    error: underlyingError(guardError),
    stage: 'quarantine',
    reason: guardError.reason,
    route: ctx.route,
    file,
  });
  return guardError;
}

async function runHooks(
  deps: ReportingDeps,
  route: RouteConfig,
  event: ReturnType<typeof createMatchEvent>,
): Promise<void> {
  const hook = route.onMatch;
  const work = Promise.all([
    deps.events.emitAndWait('match', event),
    hook
      ? Promise.resolve()
          .then(() => hook(event))
          .catch((error: unknown) => {
            const err = toError(error);
            deps.events.emit('error', {
              error: err,
              stage: 'hook',
              route: event.route,
              file: event.file,
            });
          })
      : undefined,
  ]);
  const finished = await withTimeout(
    work.then(() => true),
    route.hookTimeoutMs,
    () => false,
  );
  if (!finished) {
    deps.events.emit('error', {
      error: new Error(`onMatch / match listeners did not finish within ${route.hookTimeoutMs} ms`),
      stage: 'hook',
      route: event.route,
      file: event.file,
    });
  }
}
