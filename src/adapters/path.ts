/**
 * The request path as routers see it: the pathname of the request target, including an
 * absolute-form target (`POST http://host/evidence`), without the query string.
 */
export function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return '/';
  }
}
