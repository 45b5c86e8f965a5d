import { GuardError, toGuardError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import { checkedResult } from '../matchers/checked-result.js';
import type { FileFacts, ImageMimeType, Matcher, MatchRequest, MatchResult } from '../types.js';
import type { FairShare } from './fair-share.js';
import { type RequestContext, routeFields } from './request-context.js';
import type { ResultCache } from './result-cache.js';

export type FileOutcome = 'clean' | 'match' | 'unchecked' | 'aborted';

/**
 * What checking one valid file came to. One class, one shape: `result` is set for clean and
 * match, `error` for unchecked (issue 13: facts a composed matcher adds belong in `result`).
 */
export class FileScan {
  readonly outcome: FileOutcome;
  readonly file: FileFacts;
  readonly bytes: Buffer;
  readonly result: MatchResult | undefined;
  readonly error: GuardError | undefined;

  constructor(
    outcome: FileOutcome,
    file: FileFacts,
    bytes: Buffer,
    result: MatchResult | undefined,
    error: GuardError | undefined,
  ) {
    this.outcome = outcome;
    this.file = file;
    this.bytes = bytes;
    this.result = result;
    this.error = error;
  }
}

export interface ScanFileDeps {
  matcher: Matcher;
  /**
   * The matcher is our own PhotoDNA client, whose answers were validated when parsed: they are
   * not validated again. A custom matcher's answers always are.
   */
  trustedMatcher?: boolean;
  cache: ResultCache | undefined;
  /** 'uploader': cached results answer the same client key only (no cross-user timing). */
  cacheScope: 'global' | 'uploader';
  /** Each uploader's share of the scan queue; absent when `fairShare: false`. */
  fairShare: FairShare | undefined;
  /** The host's `clientKey(req)`; the uploader's IP when absent. */
  clientKey: ((req: unknown) => string) | undefined;
  events: GuardEvents;
}

/**
 * Asks the matcher about one validated file within the request's deadline, through the dedup
 * cache, and reports it as a `scan` event (built only when someone listens). Never throws: every
 * failure becomes an outcome.
 */
export async function scanFile(
  deps: ScanFileDeps,
  ctx: RequestContext,
  file: FileFacts,
  bytes: Buffer,
): Promise<FileScan> {
  const timed = deps.events.wants('scan');
  const started = timed ? performance.now() : 0;
  let scan: FileScan;
  let cached = false;
  try {
    const cacheKey =
      deps.cacheScope === 'uploader'
        ? `${ctx.clientKeyBy(deps.clientKey)}\u0000${file.sha256}`
        : file.sha256;
    const hit = deps.cache?.get(cacheKey);
    let result: MatchResult;
    if (hit) {
      result = hit;
      cached = true;
    } else {
      // Not async (one promise and hop fewer per file): a matcher throwing at once throws here,
      // where the fair share, the cache and the catch below take it like a rejection.
      const call = (): Promise<MatchResult> => {
        const answer = ctx.settle(deps.matcher.match(new MatchCall(bytes, file, ctx)));
        return deps.trustedMatcher === true ? answer : answer.then(checkedResult);
      };
      const share = deps.fairShare;
      const ask = share ? () => share.run(ctx, call) : call;
      const found = deps.cache
        ? await deps.cache.lookup(cacheKey, ask, ctx)
        : { result: await ask(), cached: false };
      result = found.result;
      cached = found.cached;
    }
    if (result.pdq) file.pdq = result.pdq;
    scan = new FileScan(result.isMatch ? 'match' : 'clean', file, bytes, result, undefined);
  } catch (error) {
    if (ctx.clientLeft) return new FileScan('aborted', file, bytes, undefined, undefined);
    const scanError = asScanError(error, ctx);
    // A composed matcher may have hashed the file with PDQ before another back end failed.
    if (scanError.pdq) file.pdq = scanError.pdq;
    scan = new FileScan('unchecked', file, bytes, undefined, scanError);
  }
  if (timed) {
    deps.events.emit('scan', {
      file,
      outcome: scan.outcome as 'clean' | 'match' | 'unchecked',
      durationMs: performance.now() - started,
      cached,
      ...routeFields(ctx),
      ...(scan.result ? { trackingId: scan.result.trackingId } : {}),
    });
  }
  return scan;
}

/** The matcher's request; its `signal` (and so the request's `AbortController`) is made on first read. */
class MatchCall implements MatchRequest {
  readonly bytes: Buffer;
  readonly contentType: ImageMimeType;
  readonly file: FileFacts;
  readonly #ctx: RequestContext;

  constructor(bytes: Buffer, file: FileFacts, ctx: RequestContext) {
    this.bytes = bytes;
    this.contentType = file.mimetype;
    this.file = file;
    this.#ctx = ctx;
  }

  get signal(): AbortSignal {
    return this.#ctx.signal;
  }
}

function asScanError(error: unknown, ctx: RequestContext): GuardError {
  if (ctx.isDeadline(error)) {
    return new GuardError('SCAN_UNAVAILABLE', {
      reason: 'timeout',
      detail: 'the scan deadline (scanTimeoutMs) passed',
      cause: error,
    });
  }
  return toGuardError(error);
}
