import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  onRouteHookHandler,
  preValidationHookHandler,
} from 'fastify';
import type { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import type { Outcome } from '../core/outcome.js';
import { GuardError } from '../errors.js';
import { claimsMultipart } from '../multipart/is-multipart.js';
import { clientLeft, MultipartParser, UploadAborted } from '../multipart/parser.js';
import type { MulterTarget } from '../multipart/selection.js';
import type { GuardOptions } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import { wireGuard } from '../wiring.js';
import { HostFiles } from './fastify-multipart.js';
import { type FastifyGuardMode, type FastifyRouteGuard, routeEntry } from './fastify-route.js';
import { FastifyView } from './fastify-view.js';
import { type GuardHandle, withHandle } from './guard-factory.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The guard's events (`on` / `off` / `once`); closed with the server. */
    photodna: GuardHandle;
  }
  interface FastifyRequest {
    /** Set by photodna-guard on every scanned request. */
    photodna?: PhotoDnaResult;
    /** In `'parse'` mode: the files as multer leaves them (`file` for `single`, else `files`). */
    uploads?: MulterTarget;
  }
  interface FastifyContextConfig {
    /** This route's guard options; `false` leaves it unguarded. Defaults to the plugin's options. */
    photodna?: FastifyRouteGuard | false;
  }
}

export type { FastifyGuardMode, FastifyRouteGuard, UploadSelection } from './fastify-route.js';

export interface FastifyGuardOptions extends GuardOptions {
  /**
   * `'parse'`: the guard parses multipart itself (a content-type parser that leaves the stream to
   * it), with `limits`; `'scan'`: it scans what @fastify/multipart parsed. Defaults to `'parse'`.
   */
  mode?: FastifyGuardMode;
}

/**
 * The Fastify plugin: `await app.register(photodnaGuard, options)`. Every route registered after
 * it is guarded before validation (route `config.photodna` overrides or skips); a multipart
 * request to a route of its context registered before it is refused (see `missedRouteHook`), and,
 * registered inside an encapsulated plugin, one to a route outside its context that parses
 * uploads itself (see `outsideRouteHook`).
 * The guard's events are on `app.photodna`. Registered without encapsulation, as fastify-plugin
 * does.
 */
export async function photodnaGuard(
  fastify: FastifyInstance,
  options: FastifyGuardOptions = {},
): Promise<void> {
  const {
    mode = 'parse',
    prefix: _p,
    logLevel: _l,
    logSerializers: _s,
    ...guardOptions
  } = options as FastifyGuardOptions & Record<'prefix' | 'logLevel' | 'logSerializers', unknown>;
  const core = wireGuard(guardOptions);
  const shared = new MultipartParser(core.routeConfig.limits);
  fastify.decorate('photodna', withHandle(core, {}));
  fastify.decorateRequest('photodna', undefined);
  fastify.decorateRequest('uploads', undefined);
  fastify.addHook('onClose', () => core.close());
  if (mode === 'scan' && parentParsesMultipart(fastify)) {
    core.events.warnings.warn(
      'PHOTODNA_GUARD_ENCAPSULATED',
      "the Fastify plugin ('scan' mode) was registered inside an encapsulated plugin, below the context where @fastify/multipart was registered: routes outside that plugin are not guarded, and their uploads are refused 503 SCAN_UNAVAILABLE rather than handed on unchecked. Register photodnaGuard at the root (or wrap the plugin with fastify-plugin), or register @fastify/multipart in the same plugin as the guard.",
    );
  }
  // Leaves the body unread, for the guard's own parser in the route's hook.
  if (mode === 'parse')
    fastify.addContentTypeParser('multipart/form-data', (_r, _p, done) => done(null));
  const onRoute: onRouteHookHandler = (route) => {
    const wanted = route.config?.photodna;
    if (wanted === false) return;
    const entry = routeEntry(core, mode, shared, wanted);
    const guard = guardHook(core, entry, mode);
    const own = route.preValidation;
    route.preValidation = own ? [guard, ...(Array.isArray(own) ? own : [own])] : [guard];
    const refuse = otherMultipartHook(core, entry);
    const first = route.onRequest;
    route.onRequest = first ? [refuse, ...(Array.isArray(first) ? first : [first])] : [refuse];
    route.config = Object.assign({ ...route.config }, { [GUARDED]: true });
  };
  fastify.addHook('onRoute', onRoute);
  const unseen = routeEntry(core, mode, shared, undefined);
  fastify.addHook('onRequest', missedRouteHook(core, unseen));
  fastify.addHook('preValidation', notFoundHook(guardHook(core, unseen, mode)));
  const root = rootOf(fastify);
  if (root !== fastify) root.addHook('onRequest', outsideRouteHook(core, unseen, fastify));
}

/**
 * The application's root context: Fastify makes each plugin's context with
 * `Object.create(parent)`, and the root's prototype is no Fastify instance.
 */
function rootOf(fastify: FastifyInstance): FastifyInstance {
  let root = fastify;
  for (;;) {
    const parent = Object.getPrototypeOf(root) as Partial<FastifyInstance> | null;
    if (typeof parent?.addHook !== 'function') return root;
    root = parent as FastifyInstance;
  }
}

/**
 * Whether the context above the plugin's already parses multipart form data: its routes, and
 * those of its other plugins, then read uploads with @fastify/multipart but never meet the
 * guard's hooks, which Fastify gives only to the plugin's own context. (Fastify makes a plugin's
 * context with `Object.create(parent)`; the root's prototype is no Fastify instance.)
 */
function parentParsesMultipart(fastify: FastifyInstance): boolean {
  const parent = Object.getPrototypeOf(fastify) as Partial<FastifyInstance> | null;
  return parent?.hasContentTypeParser?.('multipart/form-data') === true;
}

/** Set on the config of each route the guard's hooks were put on (any guard's). */
const GUARDED = Symbol('photodna-guard route');

/**
 * A context hook reaches every route of the plugin's context, those registered before it too
 * (`app.post(...)` then `register(photodnaGuard)`, or a `register` not awaited, which runs
 * after the routes it precedes), while `onRoute` only sees the routes registered after it. On
 * such a route, not guarded and not `photodna: false`, a multipart request is refused 503
 * `SCAN_UNAVAILABLE` (`not-configured`, with its setup warning naming the fix): @fastify/multipart
 * or a handler reading the stream would otherwise take its files unchecked.
 */
function missedRouteHook(core: GuardCore, entry: Entry): onRequestHookHandler {
  return function photodnaGuardMissedRoute(
    request: FastifyRequest,
    reply: FastifyReply,
    done: (error?: Error) => void,
  ) {
    if (!unguardedUpload(request)) return done();
    const refused = new GuardError('SCAN_UNAVAILABLE', {
      reason: 'not-configured',
      detail: `the route ${request.routeOptions.url ?? ''} was registered before the photodna-guard plugin, which did not see it (await app.register(photodnaGuard, ...) before adding routes, or give the route config.photodna: false)`,
    });
    answerRefusal(core, entry, request, reply, refused, done);
  } as onRequestHookHandler;
}

/**
 * A multipart request to a route of this app that no guard put its hooks on and that is not
 * `photodna: false`. Multipart first: every request meets the hooks that ask, and `routeOptions`
 * builds an object on each read.
 */
function unguardedUpload(request: FastifyRequest): boolean {
  if (!claimsMultipart(request.headers) || request.is404) return false;
  const config = request.routeOptions.config as { photodna?: unknown; [GUARDED]?: true };
  return !config[GUARDED] && config.photodna !== false;
}

/**
 * A multipart request that no route matched meets the context's not-found handler, which
 * `onRoute` never sees. One the host set (`setNotFoundHandler`) is a handler like a route's — an
 * SPA fallback, a proxy forwarding the body upstream with `reply.from()` — and would read the
 * upload unchecked: it is guarded with the plugin's options, here, as Fastify runs a context's
 * hooks for its not-found handler. Fastify's own not-found answer reads no body: a multipart
 * request it answers 404 stays none of the guard's business (no parse, no call spent). Callback
 * style: every other request goes on at once, without a promise.
 */
function notFoundHook(guard: preValidationHookHandler): preValidationHookHandler {
  const guarding = guard as unknown as (
    this: FastifyInstance,
    request: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<unknown>;
  return function photodnaGuardNotFound(
    this: FastifyInstance,
    request: FastifyRequest,
    reply: FastifyReply,
    done: (error?: Error) => void,
  ) {
    if (!hostNotFound(request)) return done();
    // As for the route's own async hook: Fastify goes on only if the guard did not answer.
    guarding.call(this, request, reply).then(
      () => done(),
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
  } as preValidationHookHandler;
}

/** A multipart request to no route, meeting a not-found handler the host set. */
function hostNotFound(request: FastifyRequest): boolean {
  return request.is404 && claimsMultipart(request.headers) && !answersItself(request);
}

/**
 * Whether the not-found handler is Fastify's own (`basic404` in fastify/lib/four-oh-four.js, set
 * until the host sets one), which answers 404 without reading the body. Known only by its name:
 * should Fastify rename it, its 404s are guarded too, the safe side.
 */
function answersItself(request: FastifyRequest): boolean {
  return request.routeOptions.handler?.name === 'basic404';
}

/**
 * Registered inside an encapsulated plugin, the guard's hooks reach only that plugin's context:
 * a route elsewhere (the root, a sibling or cousin plugin) that parses multipart form data itself
 * (its own @fastify/multipart) would hand uploads on unchecked. So this hook, put on the root
 * (whose hooks reach every context, those made before it too), refuses a multipart request to such
 * a route as the missed-route hook does: 503 `SCAN_UNAVAILABLE` (`not-configured`, warned naming
 * the route). Not guarded by any guard and not `photodna: false`, in a context outside the
 * guard's and with a form-data parser: where there is none, Fastify answers its own 415 and
 * nothing reaches the handler. In `onRequest`, before any parser (or an `onFile`) reads a byte.
 */
function outsideRouteHook(
  core: GuardCore,
  entry: Entry,
  guarded: FastifyInstance,
): onRequestHookHandler {
  return function photodnaGuardOutsideRoute(
    request: FastifyRequest,
    reply: FastifyReply,
    done: (error?: Error) => void,
  ) {
    const notFound = hostNotFound(request);
    if (!notFound && !unguardedUpload(request)) return done();
    const context = request.server;
    // The guard's own context (and those inside it) has the missed-route and not-found hooks.
    if (context === guarded || Object.prototype.isPrototypeOf.call(guarded, context)) return done();
    if (!context.hasContentTypeParser('multipart/form-data')) return done();
    const what = notFound ? 'the not-found handler' : `the route ${request.routeOptions.url ?? ''}`;
    const refused = new GuardError('SCAN_UNAVAILABLE', {
      reason: 'not-configured',
      detail: `${what} parses multipart form data in a plugin context the photodna-guard plugin does not reach (it was registered inside an encapsulated plugin): register photodnaGuard at the root (or in a fastify-plugin-wrapped plugin) before that route's plugin, register @fastify/multipart only in the guard's context, or give the route config.photodna: false`,
    });
    answerRefusal(core, entry, request, reply, refused, done);
  } as onRequestHookHandler;
}

/**
 * On a guarded route, a body claiming multipart other than as form data (`multipart/mixed`,
 * `multipart` in a parameter, a list of types not starting with form data) is refused before
 * Fastify looks for a parser (which would answer its own 415, unannounced): 400
 * `MALFORMED_MULTIPART`, as every adapter refuses it. Neither the guard's parser (`'parse'`) nor
 * @fastify/multipart (`'scan'`) would read it. Only guarded routes: one with `photodna: false`
 * keeps the host's parsers.
 */
function otherMultipartHook(core: GuardCore, entry: Entry): onRequestHookHandler {
  // Callback style: every other request (a GET included) goes on at once, without a promise.
  return function photodnaGuardOtherMultipart(
    request: FastifyRequest,
    reply: FastifyReply,
    done: (error?: Error) => void,
  ) {
    if (!claimsMultipart(request.headers) || FORM_DATA.test(request.headers['content-type'] ?? ''))
      return done();
    const refused = new GuardError('MALFORMED_MULTIPART', {
      detail: 'a multipart Content-Type other than multipart/form-data',
    });
    answerRefusal(core, entry, request, reply, refused, done);
  } as onRequestHookHandler;
}

/** Answers a request refused in an `onRequest` hook, its body unread. */
function answerRefusal(
  core: GuardCore,
  entry: Entry,
  request: FastifyRequest,
  reply: FastifyReply,
  refused: GuardError,
  done: (error?: Error) => void,
): void {
  // Answered here, `done` never called: the request goes no further.
  core.refuseUnread(entry, new FastifyView(request, reply, undefined), refused).then(
    (outcome) => {
      if (outcome.kind === 'respond') {
        reply.code(outcome.status).headers(outcome.headers).send(outcome.body);
      } else reply.hijack();
    },
    (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
  );
}

/** The type Fastify hands the form-data parser, the guard's or @fastify/multipart's (its parameters after). */
const FORM_DATA = /^\s*multipart\/form-data\s*(;|$)/i;

/**
 * A request claiming multipart that @fastify/multipart, registered, did not take: Fastify parses
 * no body of a GET, HEAD or TRACE (unless the host gave the method a body with `addHttpMethod`),
 * so nothing of it can be checked. Refused as unreadable (400), as a Web `Request` guard refuses
 * the same request; not the configuration error of a route without @fastify/multipart (no
 * `isMultipart` at all), which any client could otherwise raise.
 */
function notTakenByPlugin(request: FastifyRequest): boolean {
  const req = request as FastifyRequest & { isMultipart?: () => boolean };
  return (
    typeof req.isMultipart === 'function' && !req.isMultipart() && claimsMultipart(req.headers)
  );
}

/**
 * `saveRequestFiles()` (run by the guard in `'scan'` mode) failed. An uploader who left, or whose
 * body stalled for `bodyIdleMs`, gets no answer, whatever the plugin's error (a body destroyed
 * by the guard fails it with its own 400 `FST_MP_PREMATURE_CLOSE`), and is counted in the
 * metrics as where the guard parses. Else @fastify/multipart's own errors (limits, with a
 * status) stay its own, for Fastify's error handler; a body cut short or malformed is a 400
 * `MALFORMED_MULTIPART`, as where the guard parses.
 */
async function unreadBody(
  core: GuardCore,
  entry: Entry,
  view: FastifyView,
  error: unknown,
): Promise<Outcome> {
  if (clientLeft(view.body)) return core.refuseUnread(entry, view, new UploadAborted(error));
  if (typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error;
  const detail = error instanceof Error ? error.message : String(error);
  return core.refuseUnread(
    entry,
    view,
    new GuardError('MALFORMED_MULTIPART', { detail, cause: error }),
  );
}

Object.assign(photodnaGuard, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'photodna-guard',
  [Symbol.for('plugin-meta')]: { name: 'photodna-guard', fastify: '5.x' },
});

function guardHook(
  core: GuardCore,
  entry: Entry,
  mode: FastifyGuardMode,
): preValidationHookHandler {
  return async function photodnaGuardHook(request: FastifyRequest, reply: FastifyReply) {
    let host: HostFiles | undefined;
    let unread: { error: unknown } | undefined;
    if (mode === 'scan' && notTakenByPlugin(request)) {
      unread = { error: new Error(`@fastify/multipart did not read this ${request.method} body`) };
    } else if (mode === 'scan') {
      try {
        host = await HostFiles.collect(
          request,
          reply.raw,
          core.events,
          entry.route.limits.bodyIdleMs,
        );
      } catch (error) {
        unread = { error };
      }
    }
    const collected = host ? [...host.target.files] : [];
    const view = new FastifyView(request, reply, host && [host.target]);
    const outcome = unread
      ? await unreadBody(core, entry, view, unread.error)
      : await core.decide(entry, view);
    host?.drop(outcome.kind === 'continue' ? outcome.withheld : collected);
    if (outcome.kind === 'continue') host?.apply();
    if (outcome.kind === 'gone') return reply.hijack();
    if (outcome.kind === 'respond') {
      return reply.code(outcome.status).headers(outcome.headers).send(outcome.body);
    }
    if (!outcome.photodna) return;
    request.photodna = outcome.photodna;
    if (mode === 'parse') {
      const raw = view.body;
      request.body = raw.body;
      request.uploads = { file: raw.file, files: raw.files };
    }
  } as preValidationHookHandler;
}
