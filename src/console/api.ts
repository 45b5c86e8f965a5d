/**
 * The console's JSON API under `<base>/api/`: the session, the incident list and detail, the
 * three actions (each audited), the audit log and the live stream. Answers carry record fields
 * from `incident-view.ts` only: never image bytes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { QuarantineError, toError } from '../errors.js';
import { isValidId } from '../quarantine/names.js';
import { ncmecSecrets, redact } from '../redact.js';
import { ReportFieldTooLongError } from '../report/field-limits.js';
import { outcomeUnknownOf, ReportOutcomeUnknown } from '../report/outcome-unknown.js';
import {
  auditRefusal,
  purgeIncident,
  type Reviewer,
  releaseIncident,
  reportIncident,
} from '../review/actions.js';
import type { AuditLog } from '../review/audit-log.js';
import type { ReporterInfo } from '../types.js';
import type { ActionsInFlight } from './actions-in-flight.js';
import type { ConsoleAuth } from './auth.js';
import { HttpError, readJson, sendJson } from './http-io.js';
import { incidentDetail, parseQuery, selectIncidents } from './incident-view.js';
import type { LiveFeed } from './live-feed.js';
import type { ResolvedConsoleOptions } from './options.js';
import type { ConsoleReporting } from './reporting.js';
import type { Session } from './session.js';

export interface ApiDeps {
  options: ResolvedConsoleOptions;
  auth: ConsoleAuth;
  audit: AuditLog;
  reporting: ConsoleReporting;
  live: LiveFeed | undefined;
  /** The actions running: closing the console waits for them. */
  actions: ActionsInFlight;
}

const MAX_REASON = 2_000;
const AUDIT_SHOWN = 50;
const ACTION = /^incidents\/([^/]+)\/(report|release|purge)$/;
const DETAIL = /^incidents\/([^/]+)$/;

/** Serves `path` (relative to `<base>/api/`). */
export async function serveApi(
  deps: ApiDeps,
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
  path: string,
  url: URL,
): Promise<void> {
  const { auth, options } = deps;
  const method = req.method ?? 'GET';
  if (path === 'login' && method === 'POST') {
    if (auth.mode !== 'token')
      throw new HttpError(404, 'no token login: this console uses your own login');
    const session = await auth.login(req, res, base);
    return sendJson(res, 200, sessionBody(deps, session));
  }
  if (path === 'session' && method === 'GET') {
    try {
      const session = await auth.session(req, res, base, true);
      return sendJson(res, 200, sessionBody(deps, session));
    } catch (error) {
      // The page needs to know whether to offer the token form.
      if (error instanceof HttpError && error.status === 401) {
        return sendJson(res, 401, { error: error.message, login: auth.mode });
      }
      throw error;
    }
  }
  const authorizedAt = Date.now(); // a live stream's first "yes" (see live-stream.ts)
  const session = await auth.session(req, res, base);
  if (method === 'POST') auth.checkCsrf(req, session);

  if (path === 'logout' && method === 'POST') {
    auth.logout(req, res, base); // the session's live streams end here, before this answer
    return sendJson(res, 200, { ok: true });
  }
  if (path === 'incidents' && method === 'GET') {
    const records = await options.store.list();
    return sendJson(
      res,
      200,
      selectIncidents(records, parseQuery(url.searchParams), options.pageSize),
    );
  }
  if (path === 'audit' && method === 'GET') {
    const [verification, entries] = await Promise.all([deps.audit.verify(), deps.audit.read()]);
    return sendJson(res, 200, { verification, entries: entries.slice(-AUDIT_SHOWN).reverse() });
  }
  if (path === 'live' && method === 'GET') {
    if (!deps.live)
      throw new HttpError(404, "no live stream: the console was not given the guard's events");
    deps.live.subscribe(res, auth.streamAccess(req, session), authorizedAt);
    return;
  }
  const detail = DETAIL.exec(path);
  if (detail && method === 'GET') {
    const id = idOf(detail[1]);
    return sendJson(res, 200, { incident: incidentDetail(await getRecord(deps, id)) });
  }
  const action = ACTION.exec(path);
  if (action && method === 'POST') {
    const id = idOf(action[1]);
    const record = await getRecord(deps, id); // 404 before anything else
    const reviewer: Reviewer = { store: options.store, audit: deps.audit, actor: session.actor };
    if (action[2] === 'report' && record.released) {
      // Released as a false positive: reporting it would contradict that decision.
      const refusal = 'this incident was released as a false positive: it is not reported';
      await deps.actions.run(() => auditRefusal(reviewer, 'report', record, refusal));
      throw new HttpError(409, refusal);
    }
    const body = await readJson(req);
    const done = await deps.actions
      .run(() => act(deps, reviewer, id, action[2] as string, body))
      .catch((error: unknown) => {
        // Purged meanwhile (a second purge asked for at once waited for the first's lock):
        // refused as when asked after it, not a 500.
        throw unknownIncident(error) ? new HttpError(404, 'no such incident') : error;
      });
    return sendJson(res, 200, done);
  }
  throw new HttpError(404, 'not found');
}

async function act(
  deps: ApiDeps,
  reviewer: Reviewer,
  id: string,
  action: string,
  body: Record<string, unknown>,
): Promise<unknown> {
  const { options, reporting } = deps;
  if (action === 'release') {
    const reason = typeof body.reason === 'string' ? body.reason.trim() : '';
    if (reason.length === 0) throw new HttpError(400, 'a release needs a reason');
    if (reason.length > MAX_REASON)
      throw new HttpError(400, `the reason is longer than ${MAX_REASON} characters`);
    await releaseIncident(reviewer, id, reason, options.allowList);
  } else if (action === 'purge') {
    const decision = await purgeIncident(reviewer, id);
    if (!decision.purge) throw new HttpError(409, `purge refused: ${decision.reason}`);
    return { ok: true, purged: id, reason: decision.reason };
  } else {
    const status = reporting.status;
    if (!status.configured) {
      throw new HttpError(
        503,
        `reporting is not configured on the server (missing: ${status.missing.join(', ')})`,
      );
    }
    const info = reporting.info as ReporterInfo;
    try {
      // Never `force`: a second report of one incident returns the first result, so the console
      // cannot file the same incident with NCMEC twice (a resend is the library's, on purpose).
      // `resend` is the moderator's confirmation that an attempt whose outcome is unknown (it
      // may have reached NCMEC) is to be sent again.
      await reportIncident(reviewer, id, {
        sender: reporting.sender(),
        info,
        stopBeforeSending: deps.actions.closing,
        resendUnknown: body.resend === true,
      });
    } catch (error) {
      if (deps.actions.closing.aborted && toError(error).name === 'AbortError') {
        throw new HttpError(503, 'the console is shutting down; the report was not sent');
      }
      // The server's reporter details are past what the Report endpoint accepts: nothing sent.
      if (error instanceof ReportFieldTooLongError) throw new HttpError(503, error.message);
      if (error instanceof ReportOutcomeUnknown) {
        throw new HttpError(
          409,
          redact(
            `not sent: its report may have reached NCMEC already (${error.detail}). Ask NCMEC first; sending it again may file it twice`,
            ncmecSecrets(info),
            500,
          ),
        );
      }
      const message = redact(toError(error).message, ncmecSecrets(info), 300);
      const unknown = outcomeUnknownOf(error)
        ? ' (it may have reached NCMEC all the same: no answer said what became of it)'
        : '';
      throw new HttpError(502, `the report failed: ${message}${unknown}`);
    }
  }
  return { ok: true, incident: incidentDetail(await options.store.getRecord(id)) };
}

function sessionBody(deps: ApiDeps, session: Session) {
  return {
    actor: session.actor,
    csrf: session.csrf,
    // Under the host's login (`authorize`) the page offers no logout: it could not end that login.
    login: deps.auth.mode,
    reporting: deps.reporting.status,
    allowList: deps.options.allowList !== undefined,
    live: deps.live !== undefined,
    pageSize: deps.options.pageSize,
  };
}

function idOf(raw: string | undefined): string {
  let id: string;
  try {
    id = decodeURIComponent(raw ?? '');
  } catch {
    id = ''; // a malformed escape (`%E0`) names no incident
  }
  if (!isValidId(id)) throw new HttpError(404, 'no such incident');
  return id;
}

async function getRecord(deps: ApiDeps, id: string) {
  try {
    return await deps.options.store.getRecord(id);
  } catch (error) {
    if (unknownIncident(error)) throw new HttpError(404, 'no such incident');
    throw error;
  }
}

/** The store's answer for an incident it does not hold (never was, or purged). */
function unknownIncident(error: unknown): boolean {
  return error instanceof QuarantineError && /unknown incident/.test(error.message);
}
