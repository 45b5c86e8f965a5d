/**
 * A guard wired the wrong way fails at its first call with a `TypeError` that names the fix: the
 * Express guard on a Koa app, `app.use(photodnaGuard)` (the factory) or `guard.single` (not
 * called), `guard({ policy })` for `guard.route(...)`. Thrown synchronously, so the framework
 * answers 500 and never runs the handler; otherwise such a call failed deep inside (a TypeError
 * on a missing property, a wall of "option 'socket' is not known"), ended the process with an
 * unhandled rejection (`next is not a function`), or returned middleware nobody ran and the
 * request hung.
 */

type Framework = 'Express' | 'Koa' | 'Hono';

const IMPORTS: Record<Framework, string> = {
  Express: "'photodna-guard'",
  Koa: "'photodna-guard/koa'",
  Hono: "'photodna-guard/hono'",
};

type Kind = 'an Express request' | 'a Koa context' | 'a Hono context' | 'a Web Request';

const CALLERS: Record<Kind, { framework?: Framework; call: string }> = {
  'an Express request': {
    framework: 'Express',
    call: 'by Express (or Node) with (req, res, next)',
  },
  'a Koa context': { framework: 'Koa', call: 'by Koa with (ctx, next)' },
  'a Hono context': { framework: 'Hono', call: 'by Hono with (c, next)' },
  'a Web Request': { call: 'with a Web Request' },
};

/**
 * Whether `value` is a Web `Request` (its `headers` a `Headers`; Node's are a plain object), told
 * by shape: one from another copy of undici, or a runtime's own class, is no `instanceof Request`.
 */
export function isWebRequest(value: unknown): value is Request {
  const headers = (value as { headers?: { get?: unknown } } | null | undefined)?.headers;
  return typeof headers?.get === 'function';
}

/** What `value` is when it is a framework's request or context, which no option or field name is. */
export function requestKind(value: unknown): Kind | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (isWebRequest(value)) return 'a Web Request';
  const { req } = value as { req?: unknown };
  if (typeof req === 'object' && req !== null) {
    return isWebRequest((req as { raw?: unknown }).raw) ? 'a Hono context' : 'a Koa context';
  }
  const { headers, method } = value as { headers?: unknown; method?: unknown };
  return typeof headers === 'object' && typeof method === 'string'
    ? 'an Express request'
    : undefined;
}

/** The error for `guard`'s middleware called the way another framework (or nobody) calls it. */
export function wrongMiddlewareCall(guard: Framework, args: readonly unknown[]): TypeError {
  const kind = requestKind(args[0]);
  const caller = kind ? CALLERS[kind] : undefined;
  const how = caller?.call ?? `with ${described(args)}`;
  const other = caller?.framework !== guard ? caller?.framework : undefined;
  const fix = other
    ? `for ${other}, make the guard with photodnaGuard from ${IMPORTS[other]}`
    : `it is ${guard} middleware: mount it (app.use(guard), or on a route); a route's own options go to guard.route({ ... })`;
  return new TypeError(
    `photodna-guard: the ${guard} guard (from ${IMPORTS[guard]}) was called ${how}: ${fix}`,
  );
}

/**
 * Throws when `what` (the factory, `guard.route`, a selector) was mounted as middleware itself
 * instead of called: the framework handed it a request, where options or a field name belong.
 * `usage` shows the call to mount instead.
 */
export function assertNotMounted(what: string, value: unknown, usage: string): void {
  const kind = requestKind(value);
  if (!kind) return;
  throw new TypeError(
    `photodna-guard: ${what} was called ${CALLERS[kind].call}: it was mounted as middleware itself. Call it and mount what it returns: ${usage}`,
  );
}

function described(args: readonly unknown[]): string {
  const given = args.slice(0, 1 + args.findLastIndex((arg) => arg !== undefined));
  if (given.length === 0) return 'no arguments';
  return `(${given.map((arg) => (arg === null ? 'null' : typeof arg)).join(', ')})`;
}
