/**
 * Who is asking, and may they change anything. Reads go through `authorize` (the host's login)
 * or a token session; every state-changing request must also come from the console's own origin
 * (Origin / Sec-Fetch-Site), as JSON, and echo the session's CSRF token in `X-CSRF-Token`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEqual } from '../secret.js';
import { clientIp, HttpError, isTls, readCookie, readJson } from './http-io.js';
import type { StreamAccess } from './live-stream.js';
import { LoginThrottle } from './login-throttle.js';
import type { ResolvedConsoleOptions } from './options.js';
import { type Session, Sessions } from './session.js';

export const SESSION_COOKIE = 'pdg_console';

export class ConsoleAuth {
  readonly #options: ResolvedConsoleOptions;
  readonly #sessions: Sessions;
  /** Failed token logins, per client and in all (see login-throttle.ts). */
  readonly #throttle = new LoginThrottle();

  /** `onSessionEnd(id)`: a session was logged out, replaced, evicted or found expired. */
  constructor(options: ResolvedConsoleOptions, onSessionEnd?: (id: string) => void) {
    this.#options = options;
    this.#sessions = new Sessions(options.sessionTtlMs, options.sessionMaxAgeMs, onSessionEnd);
  }

  get mode(): 'authorize' | 'token' {
    return this.#options.authorize ? 'authorize' : 'token';
  }

  /**
   * The caller's session, or a 401. With `authorize`, the host's answer is asked on every
   * request (a session is created for it when `create` is set) and must name the session's
   * reviewer; with a token, the session cookie alone counts.
   */
  async session(
    req: IncomingMessage,
    res: ServerResponse,
    base: string,
    create = false,
  ): Promise<Session> {
    const existing = this.#sessions.get(readCookie(req, SESSION_COOKIE));
    const { authorize } = this.#options;
    if (!authorize) {
      if (existing) return existing;
      throw new HttpError(401, 'log in with the console token');
    }
    let actor: unknown;
    try {
      actor = await authorize(req);
    } catch {
      actor = undefined;
    }
    if (typeof actor !== 'string' || actor.length === 0) throw new HttpError(401, 'not authorized');
    if (existing && existing.actor === actor) return existing;
    if (existing) this.#sessions.delete(existing.id);
    if (!create) throw new HttpError(401, 'no console session: reload the console');
    return this.#start(req, res, base, actor);
  }

  /**
   * What a live stream opened by `req` under `session` asks before it writes: is the session
   * still live (the stream does not extend it), and, with `authorize`, does the host still name
   * the session's reviewer for that request.
   */
  streamAccess(req: IncomingMessage, session: Session): StreamAccess {
    const { authorize } = this.#options;
    return {
      sessionId: session.id,
      live: () => this.#sessions.isLive(session),
      recheck: authorize ? async () => (await authorize(req)) === session.actor : undefined,
    };
  }

  /**
   * Token login: a constant-time comparison, then a new session. Counted as failed before the
   * body is read (a right token takes it back); a client over its budget, or any unfamiliar one
   * over the console's, is refused unread (429, `Retry-After`).
   */
  async login(req: IncomingMessage, res: ServerResponse, base: string): Promise<Session> {
    checkOrigin(req);
    const address = clientIp(req);
    const now = Date.now();
    const wait = this.#throttle.take(address, now);
    if (wait > 0) throw new HttpError(429, 'too many failed logins: wait a minute', wait);
    const { token } = this.#options;
    const body = await readJson(req);
    if (!token || typeof body.token !== 'string' || !safeEqual(body.token, token)) {
      throw new HttpError(401, 'wrong token');
    }
    this.#throttle.succeeded(address, now);
    const old = this.#sessions.get(readCookie(req, SESSION_COOKIE));
    if (old) this.#sessions.delete(old.id);
    return this.#start(req, res, base, this.#options.tokenActor ?? 'token holder');
  }

  logout(req: IncomingMessage, res: ServerResponse, base: string): void {
    const id = readCookie(req, SESSION_COOKIE);
    if (id) this.#sessions.delete(id);
    res.setHeader('Set-Cookie', this.#cookie(req, base, '', 0));
  }

  /** For POSTs: same origin, and the session's CSRF token in `X-CSRF-Token`. */
  checkCsrf(req: IncomingMessage, session: Session): void {
    checkOrigin(req);
    const given = req.headers['x-csrf-token'];
    if (typeof given !== 'string' || !safeEqual(given, session.csrf)) {
      throw new HttpError(403, 'missing or wrong CSRF token');
    }
  }

  #start(req: IncomingMessage, res: ServerResponse, base: string, actor: string): Session {
    const session = this.#sessions.create(actor);
    res.setHeader('Set-Cookie', this.#cookie(req, base, session.id));
    return session;
  }

  #cookie(req: IncomingMessage, base: string, value: string, maxAge?: number): string {
    const secure = this.#options.secureCookie ?? isTls(req);
    return [
      `${SESSION_COOKIE}=${value}`,
      `Path=${cookiePath(base)}/`,
      'HttpOnly',
      'SameSite=Strict',
      ...(secure ? ['Secure'] : []),
      ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
    ].join('; ');
  }
}

/**
 * The mount path as a cookie `Path`, its `;` escaped. Under a mount with a parameter
 * (`/:tenant/console`) the path is the request's own: a `;` in it would end the attribute and
 * start others of the attacker's choosing (`Domain=`, `Max-Age=`). Escaped, the cookie fits no
 * such request and that session goes unused (fail closed). Node refuses control characters in
 * the request line and in header values, so `;` is the only separator that can arrive.
 */
function cookiePath(base: string): string {
  return base.replaceAll(';', '%3B');
}

/** Refuses cross-site requests: a foreign Origin, or a browser saying the request is cross-site. */
function checkOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new HttpError(403, 'cross-site request refused');
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  // HTTP/2 has no Host header: its `:authority` names the host the browser addressed.
  const addressed = req.headers.host ?? req.headers[':authority'];
  if (host === undefined || host !== addressed) {
    throw new HttpError(403, 'cross-origin request refused');
  }
}
