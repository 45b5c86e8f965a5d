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
