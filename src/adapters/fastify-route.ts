import { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import { InvalidOptionsError } from '../errors.js';
import { MultipartParser } from '../multipart/parser.js';
import type { Selection } from '../multipart/selection.js';
import type { RouteOverrides } from '../options.js';
import { overriddenRoute } from './guard-factory.js';

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
  if (mode === 'scan' && select !== undefined) {
    // @fastify/multipart reads every field: a selection the guard cannot enforce is refused at
    // registration, never ignored.
    throw new InvalidOptionsError(
      "config.photodna.select: applies only in mode 'parse'; in mode 'scan' @fastify/multipart reads the fields (limit them with its own options)",
      ['select'],
    );
  }
  const hasOverrides = Object.keys(overrides).length > 0;
  const route = hasOverrides ? overriddenRoute(core, overrides) : core.routeConfig;
  if (mode === 'scan') return Entry.scan(route);
  const parser = overrides.limits ? new MultipartParser(route.limits) : shared;
  // Fastify hands the route `request.body`; nothing reads the raw stream after the guard.
  return Entry.upload(route, parser, select ?? ANY, false);
}
