/**
 * The CLI's secrets: the PhotoDNA key and a Redis URL's password. (A PhotoDNA base URL carrying
 * credentials or a query string is refused by the client's options, which the CLI passes it to
 * unchanged, so the command fails with that message.) A command line is readable by
 * every user of the machine (`ps`, /proc/<pid>/cmdline) and kept in the shell's history, so each
 * secret has an environment variable; its flag still works (scripts use it) but says, on stderr,
 * which variable to use instead. The warning never quotes the value.
 */

/** The environment variable of the PhotoDNA subscription key (the library's default too). */
export const API_KEY_ENV = 'PHOTODNA_API_KEY';
/** The environment variable of the Redis URL of `scan` (rate limit) and `worker` (queue). */
export const REDIS_URL_ENV = 'PHOTODNA_REDIS_URL';

/**
 * The PhotoDNA key from `--api-key` (warning) or `PHOTODNA_API_KEY`; undefined when neither is
 * set (or is empty).
 */
export function apiKeyOf(
  flag: string | undefined,
  err: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag !== undefined) warnOnCommandLine('--api-key', API_KEY_ENV, err);
  return flag ?? (env[API_KEY_ENV] || undefined);
}

/**
 * The Redis URL from `--redis` (a warning when it carries a password) or `PHOTODNA_REDIS_URL`;
 * undefined when neither is set (or is empty).
 */
export function redisUrlOf(
  flag: string | undefined,
  err: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag !== undefined && carriesPassword(flag)) {
    warnOnCommandLine('--redis with a password', REDIS_URL_ENV, err);
  }
  return flag ?? (env[REDIS_URL_ENV] || undefined);
}

function warnOnCommandLine(what: string, env: string, err: (line: string) => void): void {
  err(
    `photodna-guard: warning: ${what} on the command line is visible to every user of this machine (ps) and kept in shell history; set ${env} instead`,
  );
}

/**
 * Whether a Redis URL carries a password: in its user info (`redis://:pw@host`,
 * `redis://user:pw@host`) or as ioredis's `password` query option (`redis://host?password=pw`).
 */
export function carriesPassword(url: string): boolean {
  const query = url.indexOf('?');
  if (query !== -1 && new URLSearchParams(url.slice(query + 1)).has('password')) return true;
  try {
    return new URL(url).password !== '';
  } catch {
    return false; // a port or a socket path: no user info
  }
}
