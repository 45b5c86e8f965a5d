import type { MultipartParser } from '../multipart/parser.js';
import type { Selection } from '../multipart/selection.js';
import type { RouteConfig } from '../options.js';

/**
 * One piece of guard middleware as the core sees it: the route's config and where the files
 * come from — the guard's own parser (`app.use(guard)`, `single`, `array`...) or the host's
 * multer (`scan()`). Built once per middleware, never per request.
 */
export class Entry {
  readonly route: RouteConfig;
  /** The guard's own parser, or undefined for `scan()` (files parsed by the host). */
  readonly parser: MultipartParser | undefined;
  readonly selection: Selection;
  /** Requests this entry took: seeing one again means the same middleware is mounted twice. */
  readonly taken = new WeakSet<object>();

  private constructor(
    route: RouteConfig,
    parser: MultipartParser | undefined,
    selection: Selection,
  ) {
    this.route = route;
    this.parser = parser;
    this.selection = selection;
  }

  static upload(route: RouteConfig, parser: MultipartParser, selection: Selection): Entry {
    return new Entry(route, parser, selection);
  }

  static scan(route: RouteConfig): Entry {
    return new Entry(route, undefined, ANY);
  }
}

const ANY: Selection = { kind: 'any' };
