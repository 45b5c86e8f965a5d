/**
 * Removes secrets (subscription key, NCMEC credentials) from text that may reach an error, an
 * event or a log, and caps its length. Every non-empty secret given is removed; callers choose
 * which values count as secret.
 */
export function redact(
  text: string,
  secrets: ReadonlyArray<string | undefined>,
  maxLength = 300,
): string {
  let out = text;
  for (const secret of secrets) {
    if (secret) out = out.split(secret).join('[redacted]');
  }
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}

/** Shorter user names are not removed from a text: they would take ordinary words with them. */
const MIN_USER_LENGTH = 4;

/**
 * The NCMEC credentials as secrets to remove from a text: the password always, the user name
 * (less secret) unless too short to redact sensibly.
 */
export function ncmecSecrets(credentials: {
  ncmecUser?: string | undefined;
  ncmecPassword?: string | undefined;
}): string[] {
  const { ncmecUser, ncmecPassword } = credentials;
  const secrets = ncmecPassword ? [ncmecPassword] : [];
  if (ncmecUser && ncmecUser.length >= MIN_USER_LENGTH) secrets.push(ncmecUser);
  return secrets;
}

/**
 * A URL as it may appear in a log line or an error message: no user name or password, the query
 * string (presigned URLs carry tokens there) and the fragment replaced by `[redacted]`. Text that
 * is not a URL is replaced whole.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '[redacted URL]';
  }
  const hidden = parsed.search !== '' || parsed.hash !== '';
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return hidden ? `${parsed.href}?[redacted]` : parsed.href;
}

/** Query values shorter than this (`?w=1`) are not removed on their own from the rest of a text. */
const MIN_TOKEN_LENGTH = 6;
/** A user name, query string or fragment shorter than this is not removed from the rest of a text. */
const MIN_PART_LENGTH = 4;

/**
 * `text` with `url` in it replaced by its `redactUrl` form, and the URL's secret parts (user
 * name, password, query string and each of its values, fragment; as written and decoded)
 * removed wherever else they appear, e.g. in a fetch implementation's message quoting the URL as given.
 */
export function redactUrlIn(text: string, url: string, maxLength = 300): string {
  const secrets = urlSecrets(url);
  if (!secrets) return redact(text, [url], maxLength);
  return redact(text.split(url).join(redactUrl(url)), secrets, maxLength);
}

/**
 * The secret parts of `url` (user name, password, query string and each of its values, fragment;
 * as written and decoded), to remove from any text that may quote them; undefined for text that
 * is not a URL.
 */
export function urlSecrets(url: string): string[] | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  // The password always; the user name, query string and fragment unless shorter than a word
  // (`#1` or `?w=1` would turn every '1' of a message into '[redacted]'); each query value on its
  // own too, unless too short to be a token.
  const parts = [parsed.password];
  for (const part of [parsed.username, parsed.search.slice(1), parsed.hash.slice(1)]) {
    if (part.length >= MIN_PART_LENGTH) parts.push(part);
  }
  for (const piece of parsed.search.slice(1).split('&')) {
    const value = piece.slice(piece.indexOf('=') + 1);
    if (value.length >= MIN_TOKEN_LENGTH) parts.push(value);
  }
  return parts.filter((part) => part !== '').flatMap((part) => [part, decoded(part)]);
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * A copy of a parsed JSON value with `secrets` removed from every string in it (keys too), at
 * any depth and without a length cap: for a service's answer handed on whole (`ReportResult.raw`),
 * which a host may log, and which a proxy or service echoing the request's headers could fill.
 */
export function redactJson(value: unknown, secrets: ReadonlyArray<string | undefined>): unknown {
  if (typeof value === 'string') return redact(value, secrets, Number.POSITIVE_INFINITY);
  if (Array.isArray(value)) return value.map((item) => redactJson(item, secrets));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    Object.defineProperty(out, redact(key, secrets, Number.POSITIVE_INFINITY), {
      value: redactJson(item, secrets),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Causes followed by `loggableError` (a cycle or a very long chain ends there). */
const MAX_CAUSES = 8;

/**
 * An error as the guard's own log lines show it: of its class, with its message, stack and the
 * fields of primitive value (`code`, `reason`, `httpStatus`...), its cause chain the same way;
 * never a field that holds an object. A host's error (a hook's, a store's) can carry the request
 * it failed on: an HTTP client's `config.data` holds the image, `config.headers` a token; ioredis
 * keeps `command.args`, an AUTH password among them. Loggers (pino's `err` serializer) print
 * every field.
 */
export function loggableError(error: Error, depth = 0): Error {
  const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
  const hidden = (value: unknown) => ({ value, writable: true, configurable: true });
  Object.defineProperties(copy, { message: hidden(error.message), stack: hidden(error.stack) });
  for (const [key, value] of Object.entries(error)) {
    if (isPrimitive(value))
      Object.defineProperty(copy, key, { ...hidden(value), enumerable: true });
  }
  const { cause } = error;
  if (cause instanceof Error && depth < MAX_CAUSES)
    Object.defineProperty(copy, 'cause', hidden(loggableError(cause, depth + 1)));
  else if (cause !== undefined && isPrimitive(cause))
    Object.defineProperty(copy, 'cause', hidden(cause));
  return copy;
}

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}
