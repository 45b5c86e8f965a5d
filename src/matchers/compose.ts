import { GuardError, toGuardError } from '../errors.js';
import type { Matcher, MatchFlag, MatchRequest, MatchResult, PdqFacts } from '../types.js';
import { checkedResult } from './checked-result.js';

/**
 * How the PDQ back end joins the primary one (PhotoDNA or a custom `matcher`):
 * - `'both'`: both check every file; a match from either counts.
 * - `'fallback'`: PDQ checks a file only when the primary one could not.
 */
export type ComposeMode = 'both' | 'fallback';

/** Answers of the service that mean the file itself is bad: no fallback makes them good. */
const FILE_FAULTS: ReadonlySet<string> = new Set([
  'INVALID_IMAGE',
  'IMAGE_TOO_SMALL',
  'FILE_TOO_LARGE',
]);

/**
 * Two back ends as one matcher. The rule for the answer: a match from any back end that ran is a
 * match (its flags say which, `algorithm: 'photodna' | 'pdq'`); the file is clean only when every
 * back end that was supposed to check it did and found nothing; otherwise the failure of the one
 * that could not check is thrown, so the guard treats the file as unchecked (its fail mode
 * decides), carrying the PDQ facts when PDQ hashed the file.
 */
export function composeMatchers(
  primary: Matcher,
  pdq: Matcher,
  options: { mode: ComposeMode; primaryIsPhotoDna: boolean },
): Matcher {
  const tag = options.primaryIsPhotoDna ? 'photodna' : undefined;
  return {
    match: (request) =>
      options.mode === 'both'
        ? both(primary, pdq, request, tag)
        : fallback(primary, pdq, request, tag),
    async close() {
      await Promise.all([primary.close?.(), pdq.close?.()]);
    },
  };
}

type Algorithm = NonNullable<MatchFlag['algorithm']>;

/** One back end whose flags name their algorithm (PDQ alone, with the guard's `pdq` option). */
export function labelled(matcher: Matcher, algorithm: Algorithm): Matcher {
  return {
    match: async (request) => tagged(checkedResult(await matcher.match(request)), algorithm),
    close: async () => {
      await matcher.close?.();
    },
  };
}

async function both(
  primary: Matcher,
  pdq: Matcher,
  request: MatchRequest,
  tag: Algorithm | undefined,
): Promise<MatchResult> {
  // Through an async function, so that a matcher throwing synchronously is a rejection too. Each
  // answer is checked before the two are joined: the join would make an odd one well formed.
  const ask = async (matcher: Matcher) => checkedResult(await matcher.match(request));
  const [first, second] = await Promise.allSettled([ask(primary), ask(pdq)]);
  const p = first.status === 'fulfilled' ? tagged(first.value, tag) : undefined;
  const q = second.status === 'fulfilled' ? tagged(second.value, 'pdq') : undefined;
  if (p && q) return merged(p, q);
  if (p?.isMatch) return p;
  if (q?.isMatch) return q;
  if (first.status === 'rejected') throw unchecked(first.reason, q?.pdq);
  throw unchecked((second as PromiseRejectedResult).reason, undefined);
}

async function fallback(
  primary: Matcher,
  pdq: Matcher,
  request: MatchRequest,
  tag: Algorithm | undefined,
): Promise<MatchResult> {
  let failure: GuardError;
  try {
    return tagged(checkedResult(await primary.match(request)), tag);
  } catch (error) {
    failure = toGuardError(error);
    if (FILE_FAULTS.has(failure.code) || request.signal.aborted) throw error;
  }
  let q: MatchResult;
  try {
    q = tagged(checkedResult(await pdq.match(request)), 'pdq');
  } catch {
    throw failure;
  }
  if (q.isMatch) return q;
  throw unchecked(failure, q.pdq);
}

function merged(p: MatchResult, q: MatchResult): MatchResult {
  const result: MatchResult = {
    isMatch: p.isMatch || q.isMatch,
    trackingId: p.trackingId,
    matchFlags: [...p.matchFlags, ...q.matchFlags],
  };
  const pdq = q.pdq ?? p.pdq;
  if (pdq) result.pdq = pdq;
  return result;
}

/** The result with every flag naming its algorithm. */
function tagged(result: MatchResult, algorithm: Algorithm | undefined): MatchResult {
  if (!algorithm) return result;
  return {
    ...result,
    matchFlags: result.matchFlags.map((flag) => ({
      ...flag,
      algorithm: flag.algorithm ?? algorithm,
    })),
  };
}

/** The failure as the guard's error, with the PDQ facts PDQ found before it. */
function unchecked(error: unknown, pdq: PdqFacts | undefined): GuardError {
  const base = toGuardError(error);
  if (!pdq) return base;
  return new GuardError(base.code, {
    ...(base.detail === undefined ? {} : { detail: base.detail }),
    ...(base.reason === undefined ? {} : { reason: base.reason }),
    ...(base.retryAfter === undefined ? {} : { retryAfter: base.retryAfter }),
    cause: base.cause ?? base,
    pdq,
  });
}
