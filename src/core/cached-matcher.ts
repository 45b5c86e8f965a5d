import { checkedResult } from '../matchers/checked-result.js';
import type { Matcher, MatchRequest, MatchResult } from '../types.js';
import { signalWaiter } from './abortable.js';
import type { ResultCache } from './result-cache.js';

/**
 * The guard's matcher seen through its dedup cache, for the guard's deferred-scan worker: an image
 * queued twice, or already checked by a request, costs no second call. `lookup` also says whether
 * the cache answered, so that a deferred `scan` event tells `cached` as a request's does.
 */
export class CachedMatcher implements Matcher {
  readonly #matcher: Matcher;
  readonly #cache: ResultCache;

  constructor(matcher: Matcher, cache: ResultCache) {
    this.#matcher = matcher;
    this.#cache = cache;
  }

  lookup(request: MatchRequest): Promise<{ result: MatchResult; cached: boolean }> {
    return this.#cache.lookup(
      request.file.sha256,
      // Checked before it is cached: synchronous scans read the cache too.
      () => this.#matcher.match(request).then(checkedResult),
      signalWaiter(request.signal),
    );
  }

  async match(request: MatchRequest): Promise<MatchResult> {
    return (await this.lookup(request)).result;
  }
}
