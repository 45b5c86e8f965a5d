import { randomUUID } from 'node:crypto';
import { InvalidOptionsError, PhotoDnaServiceError, toError } from '../errors.js';
import type { GuardEvents, MatchEvent } from '../events.js';
import type { QuarantineStore } from '../quarantine/types.js';
import { buildReportBody, credentialsOf, missingReporterFields } from '../report/body.js';
import { assertReportFieldsFit } from '../report/field-limits.js';
import { type ReportSender, reportQuarantined } from '../report/from-record.js';
import { outcomeUnknownOf } from '../report/outcome-unknown.js';
import { reportFromBytesOnce } from '../report/unnoted-reports.js';
import type { FileFacts, MatchResult, Policy, ReporterInfo, ReportResult } from '../types.js';
import type { DeferredMatch, IncidentContext } from './handle-matches.js';
import { routeFields } from './request-context.js';

export interface ReportingDeps {
  events: GuardEvents;
  store: QuarantineStore | undefined;
  /** Sends reports; absent when no API key is configured. */
  sender: (() => ReportSender) | undefined;
  reporter: Partial<ReporterInfo> | undefined;
}

/** Builds the `match` event for one matched file, with its memoized `report()`. */
export function createMatchEvent(
  deps: ReportingDeps,
  ctx: IncidentContext,
  match: { file: FileFacts; bytes: Buffer; result: MatchResult },
  policy: Policy,
  incident: { id: string; quarantineId?: string; deferred?: DeferredMatch } = { id: randomUUID() },
): MatchEvent {
  // The first report of each kind: a test report files nothing, so it never answers for the real
  // one (nor the real one for a test), as in the record (`lastSuccessfulReport`).
  const first = new Map<boolean, Promise<ReportResult>>();
  const fields: Omit<MatchEvent, 'buffer'> = {
    id: incident.id,
    receivedAt: ctx.receivedAt,
    ...routeFields(ctx),
    method: ctx.method,
    ip: ctx.ip,
    network: ctx.network,
    ...(ctx.userAgent === undefined ? {} : { userAgent: ctx.userAgent }),
    file: match.file,
    trackingId: match.result.trackingId,
    matchFlags: match.result.matchFlags,
    policy,
    ...(incident.quarantineId === undefined ? {} : { quarantineId: incident.quarantineId }),
    ...(incident.deferred === undefined
      ? {}
      : {
          deferred: true as const,
          scanId: incident.deferred.scanId,
          ...(incident.deferred.metadata === undefined
            ? {}
            : { metadata: incident.deferred.metadata }),
          ...(incident.deferred.url === undefined ? {} : { url: incident.deferred.url }),
        }),
    report(overrides = {}, options = {}) {
      // A key given as `undefined` keeps the configured value: `{ isTest: undefined }` (a setting
      // passed through that was never set) must not turn a test guard's report into a real one.
      const given = Object.entries(overrides ?? {}).filter(([, value]) => value !== undefined);
      const info: Partial<ReporterInfo> = { ...deps.reporter, ...Object.fromEntries(given) };
      const isTest = info.isTest === true;
      const earlier = first.get(isTest);
      if (earlier && !options.force) return earlier;
      const attempt = sendReport(deps, event, info, options.force === true);
      if (!earlier) {
        first.set(isTest, attempt);
        // A failed report may be tried again. (This handler also keeps the bookkeeping promise
        // from ever being an unhandled rejection: the caller handles `attempt` itself.)
        attempt.catch(() => {
          if (first.get(isTest) === attempt) first.delete(isTest);
        });
      }
      return attempt;
    },
  };
  // Not enumerable: a host that logs the event whole (pino, JSON.stringify, util.inspect,
  // console.log) must not write the matched image into its logs. Read by name, it is there.
  const event = Object.defineProperty(fields, 'buffer', {
    value: match.bytes,
    enumerable: false,
    writable: true,
    configurable: true,
  }) as MatchEvent;
  return event;
}

async function sendReport(
  deps: ReportingDeps,
  event: MatchEvent,
  info: Partial<ReporterInfo>,
  force: boolean,
): Promise<ReportResult> {
  try {
    // Every missing reporter field at once (InvalidOptionsError, paths reporter.*).
    const missing = missingReporterFields(info);
    if (missing.length > 0) {
      throw new InvalidOptionsError(
        `reporter: missing ${missing.join(', ')}`,
        missing.map((key) => `reporter.${key}`),
      );
    }
    // A field the service would refuse (ReportFieldTooLongError): nothing is sent.
    assertReportFieldsFit(info);
    if (!deps.sender) {
      throw new TypeError(
        'report(): no PhotoDNA API key is configured (apiKey or PHOTODNA_API_KEY)',
      );
    }
    if (event.buffer.byteLength === 0 && !event.quarantineId) {
      throw new TypeError(
        'report(): the evidence of this match was not retrieved (a url job whose image could not be downloaded); nothing to report',
      );
    }
    const sender = deps.sender();
    const complete = info as ReporterInfo;
    let result: ReportResult;
    if (event.quarantineId && deps.store) {
      result = await reportQuarantined({
        store: deps.store,
        id: event.quarantineId,
        sender,
        info: complete,
        force,
      });
    } else {
      const subject = {
        bytes: event.buffer,
        file: event.file,
        ip: event.ip,
        receivedAt: event.receivedAt,
      };
      result = await reportFromBytesOnce(event.id, complete.isTest === true, force, () =>
        sender.report(buildReportBody(subject, complete), credentialsOf(complete)),
      );
    }
    deps.events.emit('report', {
      incident: event.id,
      route: event.route,
      ok: result.statusCode === 3000,
      statusCode: result.statusCode,
    });
    return result;
  } catch (error) {
    const err = toError(error);
    const statusCode = error instanceof PhotoDnaServiceError ? error.statusCode : undefined;
    deps.events.emit('report', {
      incident: event.id,
      route: event.route,
      ok: false,
      ...(statusCode === undefined ? {} : { statusCode }),
      ...(outcomeUnknownOf(error) ? { outcomeUnknown: true as const } : {}),
    });
    deps.events.emit('error', {
      error: err,
      stage: 'report',
      route: event.route,
      file: event.file,
    });
    throw err;
  }
}
