import type { RouteConfig } from '../options.js';
import type { Policy } from '../types.js';
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
