/** `scheme://authority` at the start of an absolute-form request target. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * The request path exactly as routers see it: the pathname of the request target as sent (an
 * absolute-form target `POST http://host/evidence` gives `/evidence`), without the query
 * string, and with nothing resolved or decoded. Express and Koa route on this raw pathname, so
 * policy rules must too: `new URL()` would turn `/evidence/%2e%2e` into `/` while the router
 * hands it to the `/evidence/:id` handler (issue 11).
 */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const authority = url.startsWith('/') ? undefined : ABSOLUTE_FORM.exec(url);
  const target = authority ? url.slice(authority[0].length) : url;
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  return path.startsWith('/') ? path : `/${path}`;
}

/** What Fastify's router was told to overlook in a path (its `routerOptions`). */
export interface PathLeniency {
  ignoreDuplicateSlashes?: boolean;
  ignoreTrailingSlash?: boolean;
  useSemicolonDelimiter?: boolean;
}

/**
 * The request path exactly as Fastify's router (find-my-way) matches it: `pathOf`'s, cut at a
 * `;` too under `useSemicolonDelimiter`, percent-decoded as `decodeURI` decodes (`/%65vidence`
 * is `/evidence`; an encoded reserved character such as `%2F`, `%3F` or `%25` stays encoded),
 * with repeated slashes merged and a trailing one dropped when the app asks for it. Matched on
 * the raw path, a rule for `/evidence` missed `/%65vidence`, which the router hands to the
 * `/evidence` handler. A path the router cannot decode (malformed UTF-8) is routed nowhere (400):
 * it is kept raw. Dot segments stay, as the router keeps them.
 */
export function decodedPathOf(url: string | undefined, leniency: PathLeniency): string {
  let path = pathOf(url);
  if (leniency.useSemicolonDelimiter) {
    const end = path.indexOf(';');
    if (end !== -1) path = path.slice(0, end);
  }
  if (path.includes('%')) {
    try {
      path = decodeURI(path.replace(/%25/g, '%2525'));
    } catch {
      // Malformed: the router answers 400 without routing it.
    }
  }
  if (leniency.ignoreDuplicateSlashes) path = path.replace(/\/\/+/g, '/');
  if (leniency.ignoreTrailingSlash && path.length > 1 && path.endsWith('/')) {
    path = path.slice(0, -1);
  }
  return path;
}

/**
 * A route pattern as a router keeps it (Express `req.route.path`, @koa/router's
 * `ctx._matchedRoute`): a string, a RegExp, or a list of them, written in the app and so a
 * bounded set. Anything else is not known.
 */
export function patternOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof RegExp) return String(value);
  if (Array.isArray(value) && value.length > 0) {
    const parts = value.map(patternOf);
    return parts.every((part) => part !== undefined) ? parts.join(',') : undefined;
  }
  return undefined;
}
