import { randomUUID } from 'node:crypto';
import { GuardError, toError, underlyingError } from '../errors.js';
import type { RouteConfig } from '../options.js';
import type { FileFacts, MatchResult, Policy } from '../types.js';
import { rejectAfter, withTimeout } from './abortable.js';
import { createMatchEvent, type ReportingDeps } from './match-event.js';
import type { RequestContext } from './request-context.js';

export interface MatchedFile {
  file: FileFacts;
  bytes: Buffer;
  result: MatchResult;
}

/**
 * Applies the policy to the matched files of one request: stores them first under 'quarantine'
 * (durably, before anything answers), then runs `match` listeners and `onMatch` within
 * `hookTimeoutMs`. Resolves to the error the request must answer with when the store failed.
 */
export async function handleMatches(
  deps: ReportingDeps,
  ctx: RequestContext,
  route: RouteConfig,
  policy: Policy,
  matches: MatchedFile[],
): Promise<GuardError | undefined> {
  let failure: GuardError | undefined;
  await Promise.all(
    matches.map(async (match) => {
      const id = randomUUID();
      let quarantineId: string | undefined;
      if (policy === 'quarantine') {
        try {
          quarantineId = await rejectAfter(
            quarantine(deps, ctx, match, id),
            route.scanTimeoutMs,
            () => new Error(`the quarantine store did not finish within ${route.scanTimeoutMs} ms`),
          );
        } catch (error) {
          failure ??= storeFailure(deps, ctx, match.file, error);
        }
      }
      const event = createMatchEvent(deps, ctx, match, policy, {
        id,
        ...(quarantineId === undefined ? {} : { quarantineId }),
      });
      await runHooks(deps, route, event);
    }),
  );
  return failure;
}

async function quarantine(
  deps: ReportingDeps,
  ctx: RequestContext,
  match: MatchedFile,
  id: string,
): Promise<string> {
  if (!deps.store)
    throw new Error("policy 'quarantine' was chosen but no quarantine store is configured");
  const record = await deps.store.put(
    {
      id,
      receivedAt: ctx.receivedAt,
      route: ctx.route,
      method: ctx.method,
      ip: ctx.ip,
      network: ctx.network,
      ...(ctx.userAgent === undefined ? {} : { userAgent: ctx.userAgent }),
      file: match.file,
      trackingId: match.result.trackingId,
      matchFlags: match.result.matchFlags,
      policy: 'quarantine',
    },
    match.bytes,
  );
  deps.events.emit('quarantine', { record });
  return record.id;
}

function storeFailure(
  deps: ReportingDeps,
  ctx: RequestContext,
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
