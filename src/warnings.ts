import { InvalidOptionsError } from './errors.js';
import type { ErrorEvent } from './events.js';
import { ReportFieldTooLongError } from './report/field-limits.js';
import type { Logger } from './types.js';

/**
 * Setup faults made visible by default: each prints one clear warning, once, with the fix. With
 * a `logger` they go to `logger.warn`; without one to `process.emitWarning` (Node prints it on
 * stderr; `process.on('warning')` sees it); `logger: false` silences them.
 */
export type WarningCode =
  | 'PHOTODNA_GUARD_UNAUTHORIZED'
  | 'PHOTODNA_GUARD_QUOTA_EXCEEDED'
  | 'PHOTODNA_GUARD_BAD_REQUEST'
  | 'PHOTODNA_GUARD_NOT_CONFIGURED'
  | 'PHOTODNA_GUARD_MOUNTED_TWICE'
  | 'PHOTODNA_GUARD_ROUTE_SHADOWED'
  | 'PHOTODNA_GUARD_ENCAPSULATED'
  | 'PHOTODNA_GUARD_REPORTER_FIELDS'
  | 'PHOTODNA_GUARD_UNHANDLED_ERROR'
  | 'PHOTODNA_GUARD_QUARANTINE_DIR';

/** The logger that `logger: false` stands for: says nothing, warnings included. */
export const SILENT_LOGGER: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** Prints each warning once per guard (per code, and per text for `NOT_CONFIGURED`). */
export class SetupWarnings {
  readonly #logger: Logger | undefined;
  readonly #seen = new Set<string>();

  constructor(logger: Logger | undefined) {
    this.#logger = logger;
  }

  warn(code: WarningCode, message: string, key: string = code): void {
    if (this.#logger === SILENT_LOGGER || this.#seen.has(key)) return;
    this.#seen.add(key);
    const text = `photodna-guard: ${message}`;
    if (this.#logger) this.#logger.warn({ code }, text);
    else process.emitWarning(text, { code });
  }

  /** Warns about an `error` event when it reveals a setup fault (`listened`: someone handles it). */
  onError(event: ErrorEvent, listened: boolean): void {
    const warning = warningOf(event, listened);
    if (warning) this.warn(...warning);
  }
}

/** The warning an `error` event calls for, if any: code, message, and the key it is once per. */
function warningOf(
  event: ErrorEvent,
  listened: boolean,
): [WarningCode, string, string?] | undefined {
  const { error, reason, stage } = event;
  if (reason === 'unauthorized') {
    return [
      'PHOTODNA_GUARD_UNAUTHORIZED',
      "PhotoDNA answered 401: the subscription key is missing or wrong. Check the 'apiKey' option or PHOTODNA_API_KEY (and 'baseUrl'). Until then every upload answers 503 SCAN_UNAVAILABLE (or passes unchecked under failMode 'open').",
    ];
  }
  if (reason === 'quota-exceeded') {
    return [
      'PHOTODNA_GUARD_QUOTA_EXCEEDED',
      'PhotoDNA answered 403: the subscription has no quota left (or the key may not call this endpoint). Check your subscription with Microsoft; until then uploads cannot be checked.',
    ];
  }
  if (reason === 'bad-request') {
    return [
      'PHOTODNA_GUARD_BAD_REQUEST',
      `PhotoDNA answered 3002 (invalid or missing request parameter): check 'baseUrl' and 'apiVersion'. ${error.message}`,
    ];
  }
  if (reason === 'not-configured') {
    // Once per setup fault, not per job it meets: a job's own id is left out of the key.
    const fault = error.message.replace(/deferred scan \S+/g, 'deferred scan');
    return ['PHOTODNA_GUARD_NOT_CONFIGURED', error.message, `${reason}:${stage}:${fault}`];
  }
  if (stage === 'report' && error instanceof ReportFieldTooLongError) {
    return [
      'PHOTODNA_GUARD_REPORTER_FIELDS',
      `event.report(): ${error.message}. Shorten them in the 'reporter' option or in event.report({ ... }).`,
    ];
  }
  if (stage === 'report' && error instanceof InvalidOptionsError) {
    return [
      'PHOTODNA_GUARD_REPORTER_FIELDS',
      `event.report() could not send the NCMEC report: ${error.message}. Set them in the 'reporter' option or pass them to event.report({ ... }).`,
    ];
  }
  if (!listened) {
    return [
      'PHOTODNA_GUARD_UNHANDLED_ERROR',
      `an 'error' event had no listener (stage '${stage}'${reason ? `, reason '${reason}'` : ''}): ${error.message}. Add guard.on('error', listener) or a 'logger' option to see every one; this warning is printed once.`,
    ];
  }
  return undefined;
}
