import { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import { MultipartParser } from '../multipart/parser.js';
import type { Selection } from '../multipart/selection.js';
import { applyRouteOverrides, type RouteOverrides } from '../options.js';

/** Which file fields a route accepts, as multer's selectors do (`single`, `array`, ...). */
export type UploadSelection = Selection;

/**
 * A route's `config.photodna`: the guard's route overrides (policy, limits, failMode...) plus,
 * when the guard parses, the fields it accepts. `false` leaves the route unguarded.
 */
export interface FastifyRouteGuard extends RouteOverrides {
  /** The file fields the route accepts (others answer 413 `LIMIT_EXCEEDED`). Defaults to any field. */
  select?: UploadSelection;
}

/** How the plugin reads uploads: its own parser (`'parse'`) or @fastify/multipart (`'scan'`). */
export type FastifyGuardMode = 'parse' | 'scan';

const ANY: Selection = { kind: 'any' };

/** Builds a route's entry once, when the route is registered; never per request. */
export function routeEntry(
  core: GuardCore,
  mode: FastifyGuardMode,
  shared: MultipartParser,
  wanted: FastifyRouteGuard | undefined,
): Entry {
  const { select, ...overrides } = wanted ?? {};
  const hasOverrides = Object.keys(overrides).length > 0;
  const route = hasOverrides
    ? applyRouteOverrides(core.routeConfig, overrides, core.hasStore)
    : core.routeConfig;
  if (mode === 'scan') return Entry.scan(route);
  const parser = overrides.limits ? new MultipartParser(route.limits) : shared;
  return Entry.upload(route, parser, select ?? ANY);
}
