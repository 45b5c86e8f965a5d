import type { GuardEvents } from '../events.js';
import { loggableError, redactUrl } from '../redact.js';
import type { Logger } from '../types.js';

/**
 * Mirrors the guard's events into the host's logger. What is logged is chosen field by field:
 * never image bytes, keys, passwords, the client's file name or a URL's query string, nor an
 * error's fields that hold objects (a host's HTTP error keeps its request: see `loggableError`).
 */
export function logEvents(events: GuardEvents, logger: Logger): void {
  events.on('scan', (e) =>
    logger.debug(
      {
        sha256: e.file.sha256,
        outcome: e.outcome,
        cached: e.cached,
        durationMs: Math.round(e.durationMs),
        route: e.route,
        ...(e.url === undefined ? {} : { url: redactUrl(e.url) }),
      },
      'photodna-guard: file scanned',
    ),
  );
  events.on('reject', (e) =>
    logger.info(
      {
        code: e.code,
        status: e.status,
        detail: e.detail,
        route: e.route,
        ...(e.scanId === undefined ? {} : { scanId: e.scanId }),
      },
      'photodna-guard: upload rejected',
    ),
  );
  events.on('match', (e) =>
    logger.warn(
      {
        incident: e.id,
        route: e.route,
        policy: e.policy,
        sha256: e.file.sha256,
        trackingId: e.trackingId,
        sources: e.matchFlags.map((flag) => flag.source),
        quarantineId: e.quarantineId,
        ...(e.url === undefined ? {} : { url: redactUrl(e.url) }),
      },
      'photodna-guard: an upload matched a hash list',
    ),
  );
  events.on('quarantine', (e) =>
    logger.info(
      { incident: e.record.id, sha256: e.record.sha256 },
      'photodna-guard: upload quarantined',
    ),
  );
  events.on('error', (e) =>
    logger.error(
      {
        err: loggableError(e.error),
        stage: e.stage,
        reason: e.reason,
        route: e.route,
        sha256: e.file?.sha256,
        ...(e.scanId === undefined ? {} : { scanId: e.scanId }),
      },
      `photodna-guard: ${e.stage} error: ${e.error.message}`,
    ),
  );
}
