import type { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import type { Gone, Outcome, Respond } from '../core/outcome.js';
import type { MulterFile } from '../multipart/selection.js';
import type { GuardOptions } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import { toFormData } from './form-data.js';
import { createGuard, type GuardOf, type RouteGuardOf } from './guard-factory.js';
import { WebRequestView } from './web-view.js';
import { isWebRequest, requestKind } from './wrong-call.js';

/** Answer with this `Response` (a rejection); the handler must not run. */
export interface CheckRejected {
  response: Response;
}

/** Go on: the scanned upload (for a request that was not multipart, only `photodna: undefined`). */
export interface CheckPassed {
  response?: undefined;
  /** Set on every scanned request; undefined when the request was not multipart. */
  photodna: PhotoDnaResult | undefined;
  /** Text fields and the files the handler may see, as `File`s of the sniffed type. */
  formData: FormData | undefined;
  /** The text fields as multer nests them (`a[b]` becomes `{ a: { b } }`). */
  fields: Record<string, unknown>;
  /** The files as multer shapes them: `file` for `single`, `files` otherwise (with `buffer`). */
  file?: MulterFile;
  files?: MulterFile[] | Record<string, MulterFile[]>;
}

export type CheckResult = CheckRejected | CheckPassed;

/** Where the request came from, which a `Request` does not say. */
export interface CheckInfo {
  /**
   * The uploader's address as the host derives it (behind a proxy: from its trusted hops), for
   * events, records and reports. Defaults to `peer`.
   */
  ip?: string;
  /**
   * The TCP peer's address (the socket's), recorded as evidence whatever the proxies say, when
   * the runtime tells it (Bun `server.requestIP(request)`, Deno `info.remoteAddr`,
   * @hono/node-server `env.incoming.socket`). Defaults to unknown (`''`).
   */
  peer?: string;
  /** What policy functions receive. Defaults to the `Request`. */
  raw?: unknown;
  /**
   * The path the host's router routes this request on, for path rules and records, when it is
   * not the URL's pathname as sent (a router that decodes `%65` as `e`, as Hono's does). Defaults
   * to the pathname of `request.url`, percent-encodings kept.
   */
  path?: string;
  /**
   * Whether the host's router tells paths apart by case (`/Chat` from `/chat`), so that path
   * rules cover exactly what it routes. Unset: the guard cannot know, and where a rule's reading
   * with case and without it differ, the stricter policy applies.
   */
  caseSensitive?: boolean;
  /**
   * The pattern of the route the host's router matched (`'/users/:id'`), as written in the app:
   * metrics label by it (never by the path, which the uploader chooses). Defaults to unknown,
   * labelled `unmatched`.
   */
  routePattern?: string;
}

/** Checks one Web-standard `Request`: its body is read here, with the guard's limits. */
export interface Checker {
  check(request: Request, info?: CheckInfo): Promise<CheckResult>;
}

export type FetchRouteGuard = RouteGuardOf<Checker>;
export type FetchGuard = Checker & GuardOf<Checker>;

/** The status of the `Response` answered when the uploader left: nobody will read it. */
export const CLIENT_GONE_STATUS = 499;

/** What the first guard to take a request found, for a second guard on the same request. */
const results = new WeakMap<Request, PhotoDnaResult>();

/**
 * The first decision on each request, so that checking it again (its first answer ignored,
 * `check` called twice, or at once from two places, or by a second guard) answers the same
 * refusal: the guard that took it steps aside for a second check, which otherwise answered "go
 * on, no upload" for an upload that was refused.
 */
const decisions = new WeakMap<Request, Promise<Outcome>>();

/**
 * The guard for Web-standard `Request` handlers (Next.js route handlers, Remix, Bun, Deno):
 * `const result = await guard.check(request)`; return `result.response` when it is set.
 */
export function photodnaGuard(options?: GuardOptions): FetchGuard {
  return createGuard<Checker>(checker, options);
}

/** The `check` of one entry; the Hono middleware is built on it. */
export function checker(core: GuardCore, entry: Entry): Checker {
  return {
    async check(request, info = {}) {
      if (!isWebRequest(request)) throw notARequest(request);
      const earlier = decisions.get(request);
      if (earlier) {
        const decided = await earlier;
        if (decided.kind !== 'continue') return refusal(decided);
      }
      const view = new WebRequestView(request, info, info.raw ?? request);
      const deciding = core.decide(entry, view);
      if (!earlier) decisions.set(request, deciding);
      const outcome = await deciding;
      if (outcome.kind !== 'continue') return refusal(outcome);
      const photodna = outcome.photodna ?? results.get(request);
      const { body } = view;
      if (!photodna || !body) return { photodna, formData: undefined, fields: {} };
      if (outcome.photodna) results.set(request, photodna);
      const fields = (body.body ?? {}) as Record<string, unknown>;
      const passed: CheckPassed = { photodna, formData: toFormData(fields, body), fields };
      if (body.file) passed.file = body.file;
      if (body.files) passed.files = body.files;
      return passed;
    },
  };
}

/** A refusal as the `Response` to return (a new one each time: a body is read once). */
function refusal(outcome: Respond | Gone): CheckRejected {
  if (outcome.kind === 'gone')
    return { response: new Response(null, { status: CLIENT_GONE_STATUS }) };
  const { status, headers } = outcome;
  return { response: new Response(outcome.body, { status, headers }) };
}

/**
 * `check` was handed something else than the Web `Request` (a Node request, a Hono context): it
 * failed on a missing property ("request.headers is not iterable"), naming no fix.
 */
function notARequest(value: unknown): TypeError {
  const kind = requestKind(value);
  const fix =
    kind === 'a Hono context'
      ? "pass c.req.raw, or use the Hono guard from 'photodna-guard/hono'"
      : kind === 'a Koa context' || kind === 'an Express request'
        ? "use the guard made for the framework: 'photodna-guard' (Express) or 'photodna-guard/koa'"
        : 'pass the handler’s Request';
  return new TypeError(
    `photodna-guard: guard.check(request) takes a Web Request, got ${kind ?? typeof value}: ${fix}`,
  );
}
