import { toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { RouteConfig } from '../options.js';
import type { Policy } from '../types.js';
import { withTimeout } from './abortable.js';
import type { RequestContext } from './request-context.js';

/**
 * The policy for a request: a fixed name, the first path rule that matches (a string matches as
 * a prefix on a segment boundary, case-insensitively, so '/chat' covers '/Chat/x' but not
 * '/chatroom'), or the
 * host's function. Requests no rule covers are blocked.
 */
export async function resolvePolicy(
  policy: RouteConfig['policy'],
  ctx: Pick<RequestContext, 'route' | 'raw'>,
): Promise<Policy> {
  if (typeof policy === 'string') return policy;
  if (typeof policy === 'function') {
    const chosen = await policy(ctx.raw);
    if (chosen !== 'block' && chosen !== 'quarantine' && chosen !== 'flag') {
      throw new TypeError(`the policy function returned ${String(chosen)}`);
    }
    return chosen;
  }
  const rule = policy.find(({ path }) =>
    typeof path === 'string' ? coversPath(path, ctx.route) : path.test(ctx.route),
  );
  return rule?.policy ?? 'block';
}

/** Case-insensitive, as Express and @koa/router route by default. */
function coversPath(prefix: string, route: string): boolean {
  const base = (prefix.endsWith('/') ? prefix.slice(0, -1) : prefix).toLowerCase();
  const path = route.toLowerCase();
  return base === '' || path === base || path.startsWith(`${base}/`);
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
  ctx: Pick<RequestContext, 'route' | 'raw'>,
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
