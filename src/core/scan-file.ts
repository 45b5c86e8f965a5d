import { z } from 'zod';
import { GuardError, toGuardError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { FileFacts, Matcher, MatchResult } from '../types.js';
import { settleBy } from './abortable.js';
import type { ResultCache } from './result-cache.js';

/** What checking one valid file came to. */
export type FileScan =
  | { outcome: 'clean' | 'match'; file: FileFacts; bytes: Buffer; result: MatchResult }
  | { outcome: 'unchecked'; file: FileFacts; bytes: Buffer; error: GuardError }
  | { outcome: 'aborted'; file: FileFacts; bytes: Buffer };

export interface ScanFileDeps {
  matcher: Matcher;
  cache: ResultCache | undefined;
  events: GuardEvents;
}

/**
 * Asks the matcher about one validated file within the scan deadline, through the dedup cache,
 * and reports it as a `scan` event. Never throws: every failure becomes an outcome.
 */
export async function scanFile(
  deps: ScanFileDeps,
  file: FileFacts,
  bytes: Buffer,
  options: { requestSignal: AbortSignal; timeoutMs: number; route: string },
): Promise<FileScan> {
  const started = performance.now();
  const deadline = scanDeadline(options.requestSignal, options.timeoutMs);
  const { signal } = deadline;
  const ask = async () =>
    checkedResult(
      await settleBy(
        deps.matcher.match({ bytes, contentType: file.mimetype, file, signal }),
        signal,
      ),
    );
  let scan: FileScan;
  let cached = false;
  try {
    const found = deps.cache
      ? await deps.cache.lookup(file.sha256, ask, signal)
      : { result: await ask(), cached: false };
    cached = found.cached;
    if (found.result.pdq) file.pdq = found.result.pdq;
    scan = { outcome: found.result.isMatch ? 'match' : 'clean', file, bytes, result: found.result };
  } catch (error) {
    if (options.requestSignal.aborted) return { outcome: 'aborted', file, bytes };
    scan = { outcome: 'unchecked', file, bytes, error: asScanError(error, signal) };
    if (scan.error.pdq) file.pdq = scan.error.pdq;
  } finally {
    deadline.clear();
  }
  deps.events.emit('scan', {
    file,
    outcome: scan.outcome,
    durationMs: performance.now() - started,
    cached,
    route: options.route,
    ...('result' in scan ? { trackingId: scan.result.trackingId } : {}),
  });
  return scan;
}

/**
 * One signal for one file: aborts when the uploader leaves or when `timeoutMs` passes (with a
 * `TimeoutError`). A plain timer that is cleared once the file is decided: cheaper on the hot
 * path than `AbortSignal.any` + `AbortSignal.timeout`, whose timer outlives the request.
 */
function scanDeadline(
  requestSignal: AbortSignal,
  timeoutMs: number,
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const onRequestAbort = () => controller.abort(requestSignal.reason);
  if (requestSignal.aborted) onRequestAbort();
  else requestSignal.addEventListener('abort', onRequestAbort, { once: true });
  const timer = setTimeout(
    () =>
      controller.abort(
        new DOMException('the scan deadline (scanTimeoutMs) passed', 'TimeoutError'),
      ),
    timeoutMs,
  );
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      requestSignal.removeEventListener('abort', onRequestAbort);
    },
  };
}

function asScanError(error: unknown, signal: AbortSignal): GuardError {
  if (signal.aborted && error === signal.reason) {
    return new GuardError('SCAN_UNAVAILABLE', {
      reason: 'timeout',
      detail: 'the scan deadline (scanTimeoutMs) passed',
      cause: error,
    });
  }
  return toGuardError(error);
}

/** What any matcher must answer; a custom matcher's odd answer is never read as "clean". */
const matchResultSchema = z.object({
  isMatch: z.boolean(),
  trackingId: z.string(),
  matchFlags: z.array(
    z.object({
      source: z.string(),
      violations: z.array(z.string()),
      matchDistance: z.number().optional(),
      matchId: z.string().optional(),
      algorithm: z.enum(['photodna', 'pdq']).optional(),
      metadata: z.record(z.string(), z.string()).optional(),
    }),
  ),
  pdq: z
    .object({
      hash: z.string().regex(/^[0-9a-f]{64}$/),
      quality: z.number(),
      allowedBy: z.string().optional(),
    })
    .optional(),
});

function checkedResult(result: unknown): MatchResult {
  const parsed = matchResultSchema.safeParse(result);
  if (parsed.success) return parsed.data;
  throw new GuardError('SCAN_UNAVAILABLE', {
    reason: 'malformed-response',
    detail: `the matcher answered something that is not a MatchResult: ${parsed.error.issues[0]?.message ?? ''}`,
  });
}
