import { toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { RouteConfig } from '../options.js';
import type { Policy } from '../types.js';
import { withTimeout } from './abortable.js';
import type { RequestContext } from './request-context.js';

/** What a policy function and path rules read of a request. */
type PolicyContext = Pick<RequestContext, 'route' | 'raw' | 'pathCase'>;

/**
 * The policy for a request: a fixed name, the first path rule that matches (a string matches as
 * a prefix on a segment boundary, so '/chat' covers '/chat/x' but not '/chatroom'), or the host's
 * function. Requests no rule covers are blocked.
 *
 * Rules compare case as the router routes (`ctx.pathCase`): a rule that ignored case on a router
 * that does not would let an uploader pick the rule of another route (`/CHAT/avatar`, routed to
 * `/:user/avatar`, taking the '/chat' rule's 'flag'), and a rule that minded case on a router that
 * ignores it would miss the route's own rule. Where the adapter cannot know, both readings are
 * made and the stricter policy applies (`quarantine` over `block` over `flag`).
 */
export async function resolvePolicy(
  policy: RouteConfig['policy'],
  ctx: PolicyContext,
): Promise<Policy> {
  if (typeof policy === 'string') return policy;
  if (typeof policy === 'function') {
    const chosen = await policy(ctx.raw);
    if (chosen !== 'block' && chosen !== 'quarantine' && chosen !== 'flag') {
      throw new TypeError(`the policy function returned ${String(chosen)}`);
    }
    return chosen;
  }
  const pathCase = ctx.pathCase;
  if (pathCase !== 'unknown') return ruleFor(policy, ctx.route, pathCase === 'sensitive');
  const ignoring = ruleFor(policy, ctx.route, false);
  const minding = ruleFor(policy, ctx.route, true);
  return STRICTNESS[minding] > STRICTNESS[ignoring] ? minding : ignoring;
}

type PathRules = Exclude<RouteConfig['policy'], string | ((...args: never[]) => unknown)>;

const STRICTNESS: Record<Policy, number> = { flag: 0, block: 1, quarantine: 2 };

function ruleFor(rules: PathRules, route: string, caseSensitive: boolean): Policy {
  const rule = rules.find(({ path }) =>
    typeof path === 'string'
      ? coversPath(path, route, caseSensitive)
      : (caseSensitive ? caseSensitiveOf(path) : path).test(route),
  );
  return rule?.policy ?? 'block';
}

function coversPath(prefix: string, route: string, caseSensitive: boolean): boolean {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  const base = caseSensitive ? trimmed : trimmed.toLowerCase();
  const path = caseSensitive ? route : route.toLowerCase();
  return base === '' || path === base || path.startsWith(`${base}/`);
}

/** Rule RegExps are parsed case-insensitive (route-options.ts); their case-sensitive twins. */
const twins = new WeakMap<RegExp, RegExp>();

function caseSensitiveOf(re: RegExp): RegExp {
  let twin = twins.get(re);
  if (!twin) {
    twin = new RegExp(re.source, re.flags.replace('i', ''));
    twins.set(re, twin);
  }
  return twin;
}

/**
 * The route's policy as every path applies it (a match now, a file queued for later, a match a
 * first guard flagged): within `hookTimeoutMs`. A policy function that throws, answers
 * something else or does not answer in time is `'block'` (a broken function never lets a match
 * through), with an `error` event (stage `hook`).
 */
export function boundedPolicy(
  events: GuardEvents,
  route: RouteConfig,
  ctx: PolicyContext,
): Promise<Policy> {
  if (typeof route.policy !== 'function') return resolvePolicy(route.policy, ctx);
  return withTimeout(
    resolvePolicy(route.policy, ctx).catch((error: unknown) => {
      events.emit('error', { error: toError(error), stage: 'hook', route: ctx.route });
      return 'block' as const;
    }),
    route.hookTimeoutMs,
    () => {
      events.emit('error', {
        error: new Error(`the policy function did not answer within ${route.hookTimeoutMs} ms`),
        stage: 'hook',
        route: ctx.route,
      });
      return 'block' as const;
    },
  );
}
