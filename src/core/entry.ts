import type { MultipartParser } from '../multipart/parser.js';
import type { Selection } from '../multipart/selection.js';
import type { RouteConfig } from '../options.js';
import { valueBudget } from './field-images.js';
import { mostBufferedBy } from './upload-budget.js';

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
  /**
   * Whether a passing request's body is made readable again (rebuilt from what was checked) for
   * the host's own parsers after the guard (`app.use(guard)`). Not for a route's explicit parser
   * (`guard.any()`, `single`...): its handler reads what it parsed.
   */
  readonly replays: boolean;
  /** Strings and containers of a body looked through for images before it is refused (413). */
  readonly fieldValueBudget: number;
  /** The most bytes the guard's parser may hold for one request under the route's limits. */
  readonly mostBuffered: number;
  /** Requests this entry took: seeing one again means the same middleware is mounted twice. */
  readonly taken = new WeakSet<object>();

  private constructor(
    route: RouteConfig,
    parser: MultipartParser | undefined,
    selection: Selection,
    replay: boolean,
  ) {
    this.route = route;
    this.parser = parser;
    this.selection = selection;
    this.replays = replay;
    this.fieldValueBudget = valueBudget(route.limits);
    this.mostBuffered = mostBufferedBy(route.limits);
  }

  /** `replay`: the guard mounted as a whole, in front of the app's own parsers (the adapter says). */
  static upload(
    route: RouteConfig,
    parser: MultipartParser,
    selection: Selection,
    replay: boolean,
  ): Entry {
    return new Entry(route, parser, selection, replay);
  }

  static scan(route: RouteConfig): Entry {
    return new Entry(route, undefined, ANY, false);
  }
}

const ANY: Selection = { kind: 'any' };
