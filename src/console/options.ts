/**
 * The moderators' console's options, checked once in `createConsole`. There is no open console:
 * without an `authorize` function or a `token` it refuses to start.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidOptionsError } from '../errors.js';
import type { GuardEventMap } from '../events.js';
import { createFileQuarantineStore } from '../quarantine/fs-store.js';
import type { QuarantineStore } from '../quarantine/types.js';
import { assertReporterDefaultsFit } from '../report/field-limits.js';
import type { ReportSender } from '../report/from-record.js';
import type { AllowListOptions } from '../review/allow-list.js';
import type { Logger, ReporterInfo } from '../types.js';

/**
 * Decides who may use the console, from the host's own login (session cookie, header...).
 * Returns the reviewer's name (recorded in the audit log), or a falsy value to refuse.
 */
export type ConsoleAuthorize = (
  req: IncomingMessage,
) => string | false | null | undefined | Promise<string | false | null | undefined>;

/** What the console listens to for the live panel: the guard's events (`guard.on`/`guard.off`). */
export interface ConsoleEventSource {
  on<E extends 'scan' | 'match' | 'error' | 'quarantine' | 'reject'>(
    name: E,
    listener: (event: GuardEventMap[E]) => unknown,
  ): unknown;
  off<E extends 'scan' | 'match' | 'error' | 'quarantine' | 'reject'>(
    name: E,
    listener: (event: GuardEventMap[E]) => unknown,
  ): unknown;
}

export interface ConsoleOptions {
  /** The quarantine store to review. Give `store` or `dir`. */
  store?: QuarantineStore;
  /** A file-system store's directory (opened with `createFileQuarantineStore`). */
  dir?: string;
  /** With `dir`: days to keep evidence, at most 36,500. Defaults to 365. */
  preserveDays?: number;
  /**
   * The host's authorization: `(req) => reviewerName | false`. Give this or `token`; a console
   * with neither throws. Defaults to none.
   */
  authorize?: ConsoleAuthorize;
  /**
   * A shared secret (at least 16 characters; make them random) typed into the console's login
   * form, compared in constant time. Give this or `authorize`. Defaults to none.
   *
   * Wrong tokens are limited per client address: 10 a minute from one address (an IPv6 /64),
   * 100 a minute from all together, past which only addresses where the token was given within
   * 30 days may try. The address is the framework's (Express `req.ip` under `trust proxy`, Koa
   * `ctx.ip` under `app.proxy`), else the socket's: behind a proxy the framework does not trust,
   * every login shares the proxy's budget.
   */
  token?: string;
  /** The name token holders act under in the audit log. Defaults to `'token holder'`. */
  tokenActor?: string;
  /** The guard's events, for the live panel (scans, matches, errors). Defaults to none (no live panel). */
  events?: ConsoleEventSource;
  /** The PhotoDNA queue depth, drawn on the live chart. Defaults to none. */
  queueDepth?: () => number;
  /**
   * NCMEC reporter details and credentials, from the server's configuration; never typed into
   * the page. `ncmecUser`/`ncmecPassword` default to env `NCMEC_USER`/`NCMEC_PASSWORD`,
   * `isTest` (NCMEC's test endpoint, marked on every page) defaults to false.
   */
  reporter?: Partial<ReporterInfo>;
  /**
   * Sends reports (the guard passes its `PhotoDnaClient`). Defaults to a client built from
   * `apiKey`/`baseUrl` (or env `PHOTODNA_API_KEY`/`PHOTODNA_BASE_URL`) on the first report.
   */
  sender?: ReportSender | (() => ReportSender);
  /** Defaults to env `PHOTODNA_API_KEY`. */
  apiKey?: string;
  /** Defaults to env `PHOTODNA_BASE_URL`, else PhotoDNA's. */
  baseUrl?: string;
  /** The audit log. Defaults to `<dir>/audit.log` for a file store; required for other stores. */
  audit?: { path: string };
  /** Releases append the record's PDQ hash (if any) to this file. Defaults to none. */
  allowList?: AllowListOptions;
  /** Incidents per page. Defaults to 25. */
  pageSize?: number;
  /**
   * A console session lasts this long without use (an open live stream is not use: its streams
   * end with it). Defaults to 8 hours.
   */
  sessionTtlMs?: number;
  /**
   * A console session ends this long after its login however much it is used (then 401, as for
   * an idle one: the page shows the login again). Defaults to 12 hours.
   */
  sessionMaxAgeMs?: number;
  /** Where failed console requests are logged (pino-compatible). Defaults to none. */
  logger?: Logger;
  /**
   * Mark the session cookie `Secure`. Defaults to true on TLS connections and behind a TLS proxy
   * the framework trusts (Express `req.secure` under `trust proxy`, Koa `ctx.secure` under
   * `app.proxy`), false otherwise.
   */
  secureCookie?: boolean;
}

export const MIN_TOKEN_LENGTH = 16;

export interface ResolvedConsoleOptions extends ConsoleOptions {
  store: QuarantineStore;
  auditPath: string;
  pageSize: number;
  sessionTtlMs: number;
  sessionMaxAgeMs: number;
}

export function resolveConsoleOptions(options: ConsoleOptions): ResolvedConsoleOptions {
  const fail = (message: string, path: string): never => {
    throw new InvalidOptionsError(`createConsole: ${message}`, [path]);
  };
  if (typeof options !== 'object' || options === null) fail('options are required', 'options');
  const { authorize, token } = options;
  if (authorize === undefined && token === undefined) {
    fail(
      "refusing to start an open console: give 'authorize' (your own login) or 'token'",
      'authorize',
    );
  }
  if (authorize !== undefined && token !== undefined)
    fail("give 'authorize' or 'token', not both", 'token');
  if (authorize !== undefined && typeof authorize !== 'function')
    fail("'authorize' must be a function", 'authorize');
  if (token !== undefined && (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH)) {
    fail(`'token' must be a string of at least ${MIN_TOKEN_LENGTH} characters`, 'token');
  }
  if ((options.store === undefined) === (options.dir === undefined))
    fail("give 'store' or 'dir'", 'store');
  assertReporterDefaultsFit('createConsole', options.reporter);
  const store =
    options.store ??
    createFileQuarantineStore({
      dir: options.dir as string,
      ...(options.preserveDays === undefined ? {} : { preserveDays: options.preserveDays }),
    });
  const storeDir = (store as { dir?: unknown }).dir;
  const auditPath =
    options.audit?.path ?? (typeof storeDir === 'string' ? `${storeDir}/audit.log` : undefined);
  if (auditPath === undefined)
    fail("'audit.path' is required for a store without a directory", 'audit.path');
  const pageSize = options.pageSize ?? 25;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500)
    fail("'pageSize' must be 1 to 500", 'pageSize');
  const sessionTtlMs = options.sessionTtlMs ?? 8 * 3_600_000;
  if (!(sessionTtlMs > 0)) fail("'sessionTtlMs' must be positive", 'sessionTtlMs');
  const sessionMaxAgeMs = options.sessionMaxAgeMs ?? 12 * 3_600_000;
  if (!(sessionMaxAgeMs > 0) || !Number.isFinite(sessionMaxAgeMs))
    fail("'sessionMaxAgeMs' must be a positive number of milliseconds", 'sessionMaxAgeMs');
  return {
    ...options,
    store,
    auditPath: auditPath as string,
    pageSize,
    sessionTtlMs,
    sessionMaxAgeMs,
  };
}
