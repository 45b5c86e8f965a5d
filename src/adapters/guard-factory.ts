import { shareScope } from '../core/diagnostics-scope.js';
import { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import type { GuardEventName, Listener } from '../events.js';
import { MultipartParser } from '../multipart/parser.js';
import type { Selection } from '../multipart/selection.js';
import {
  applyRouteOverrides,
  checksWithPhotoDna,
  type GuardOptions,
  type RouteConfig,
  type RouteOverrides,
} from '../options.js';
import type { ScanQueue } from '../queue/types.js';
import { wireGuard } from '../wiring.js';
import { assertNotMounted } from './wrong-call.js';

/** multer's selectors plus `scan()`, each returning the framework's middleware `M`. */
export interface GuardMethods<M> {
  single(field: string): M;
  array(field: string, maxCount?: number): M;
  fields(fields: ReadonlyArray<{ name: string; maxCount?: number }>): M;
  any(): M;
  none(): M;
  /** Checks the files left by the host's own multer (memory or disk storage). */
  scan(): M;
}

export type RouteGuardOf<M> = M & GuardMethods<M>;

/** The guard's typed events and its lifetime, whatever the framework. */
export interface GuardHandle {
  on<E extends GuardEventName>(name: E, listener: Listener<E>): this;
  off<E extends GuardEventName>(name: E, listener: Listener<E>): this;
  once<E extends GuardEventName>(name: E, listener: Listener<E>): this;
  /**
   * This guard's metrics in Prometheus text format (scans, matches, uploads ended unanswered,
   * calls, 429s, retries, latency, cache hit ratio, queue depths; see `photodna-guard/metrics`).
   * Created on first call.
   */
  metrics(): Promise<string>;
  /** The durable queue of deferred scans (`queue` option), e.g. to enqueue host references. */
  readonly queue: ScanQueue | undefined;
  /** Stops timers and connections; resolves when idle. */
  close(): Promise<void>;
}

/** `Req`: the framework's request, which a route's `policy` function receives. */
export interface GuardOf<M, Req = unknown> extends GuardMethods<M>, GuardHandle {
  /** Route-scoped middleware with some options overridden; shares the client, limiter, cache and events. */
  route(overrides: RouteOverrides<Req>): RouteGuardOf<M>;
}

/** How an adapter makes its middleware: one per entry, applying what `core.decide` answers. */
export type AdapterKit<M> = (core: GuardCore, entry: Entry) => M;

/** Builds `photodnaGuard(options)` for one framework: the guard is itself `any()`-style middleware. */
export function createGuard<M extends object>(
  kit: AdapterKit<M>,
  options: GuardOptions | undefined,
): M & GuardOf<M>;
/** The same, with framework-specific members added from the guard's core (e.g. `console`). */
export function createGuard<M extends object, X extends object>(
  kit: AdapterKit<M>,
  options: GuardOptions | undefined,
  extend: (core: GuardCore) => X,
): M & GuardOf<M> & X;
export function createGuard<M extends object>(
  kit: AdapterKit<M>,
  options: GuardOptions | undefined,
  extend?: (core: GuardCore) => object,
): M & GuardOf<M> {
  assertNotMounted(
    'photodnaGuard',
    options,
    'const guard = photodnaGuard({ ... }); app.use(guard)',
  );
  const core = wireGuard(options);
  const guard = withHandle(core, routeGuard(kit, core, core.routeConfig)) as M & GuardOf<M>;
  guard.route = (overrides) => {
    assertNotMounted('guard.route', overrides, "guard.route({ policy: 'flag' })");
    return routeGuard(kit, core, overriddenRoute(core, overrides));
  };
  return extend ? Object.assign(guard, extend(core)) : guard;
}

/** The guard's route config with a route's overrides, checked as `guard.route()` checks them. */
export function overriddenRoute(core: GuardCore, overrides: RouteOverrides): RouteConfig {
  return applyRouteOverrides(
    core.routeConfig,
    overrides,
    core.hasStore,
    checksWithPhotoDna(core.config),
    core.hasQueue,
  );
}

/** Gives `target` the guard's `on` / `off` / `once` (chainable) and `close`. */
export function withHandle<T extends object>(core: GuardCore, target: T): T & GuardHandle {
  const handle = target as T & GuardHandle;
  // `createGuardMetrics(guard)` counts this guard's diagnostics-channel messages, as `guard.metrics()`.
  shareScope(handle, core.events);
  handle.on = (name, listener) => {
    core.events.on(name, listener);
    return handle;
  };
  handle.off = (name, listener) => {
    core.events.off(name, listener);
    return handle;
  };
  handle.once = (name, listener) => {
    core.events.once(name, listener);
    return handle;
  };
  handle.metrics = () => core.metrics();
  Object.defineProperty(handle, 'queue', { value: core.queue, enumerable: true });
  handle.close = () => core.close();
  return handle;
}

function routeGuard<M extends object>(
  kit: AdapterKit<M>,
  core: GuardCore,
  route: RouteConfig,
): RouteGuardOf<M> {
  const parser = new MultipartParser(route.limits);
  const upload = (selection: Selection, replay = false) =>
    kit(core, Entry.upload(route, parser, selection, replay));
  // The guard itself (`app.use(guard)`, `app.use(guard.route(...))`) hands the unread body on to
  // the app's own parsers; `any()` and the others are the route's parser, like multer's.
  // Each checks that it was called, not mounted itself (`guard.single` for `guard.single('photo')`):
  // the middleware it returns would be dropped and the request left hanging.
  return Object.assign(upload({ kind: 'any' }, true), {
    single: (field: string) => {
      assertNotMounted('guard.single', field, "guard.single('photo')");
      return upload({ kind: 'single', field });
    },
    array: (field: string, maxCount?: number) => {
      assertNotMounted('guard.array', field, "guard.array('photos', 10)");
      return upload({ kind: 'array', field, ...(maxCount === undefined ? {} : { maxCount }) });
    },
    fields: (fields: ReadonlyArray<{ name: string; maxCount?: number }>) => {
      assertNotMounted('guard.fields', fields, "guard.fields([{ name: 'photo', maxCount: 1 }])");
      return upload({ kind: 'fields', fields });
    },
    any: (mounted?: unknown) => {
      assertNotMounted('guard.any', mounted, 'guard.any()');
      return upload({ kind: 'any' });
    },
    none: (mounted?: unknown) => {
      assertNotMounted('guard.none', mounted, 'guard.none()');
      return upload({ kind: 'none' });
    },
    scan: (mounted?: unknown) => {
      assertNotMounted('guard.scan', mounted, 'guard.scan(), after the host’s multer');
      return kit(core, Entry.scan(route));
    },
  });
}
