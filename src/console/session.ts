/**
 * Console sessions, in memory: a random id in an `HttpOnly; SameSite=Strict` cookie, bound to
 * the reviewer and to a CSRF token that every state-changing request must echo in a header.
 * Bounded in number; idle sessions expire, and every session ends at its maximum age however
 * much it is used. Whoever holds on to a session (a live stream) is told when it ends: logged
 * out, replaced, evicted or found expired.
 */
import { randomBytes } from 'node:crypto';

export interface Session {
  id: string;
  actor: string;
  csrf: string;
  /** When the session ends: its idle expiry, never past `endsAt`. */
  expires: number;
  /** Its absolute end, fixed at login: `maxAgeMs` after it started. */
  endsAt: number;
}

const MAX_SESSIONS = 1_000;

export class Sessions {
  readonly #byId = new Map<string, Session>();
  readonly #ttlMs: number;
  readonly #maxAgeMs: number;
  readonly #onEnd: (id: string) => void;

  /**
   * Sessions expire `ttlMs` after their last use and `maxAgeMs` after they started, whichever
   * comes first. `onEnd(id)` runs once for each session that leaves the store, whatever the reason.
   */
  constructor(ttlMs: number, maxAgeMs: number, onEnd: (id: string) => void = () => {}) {
    this.#ttlMs = ttlMs;
    this.#maxAgeMs = maxAgeMs;
    this.#onEnd = onEnd;
  }

  create(actor: string): Session {
    this.#sweep();
    if (this.#byId.size >= MAX_SESSIONS) {
      const oldest = this.#byId.keys().next().value;
      if (oldest !== undefined) this.delete(oldest);
    }
    const now = Date.now();
    const endsAt = now + this.#maxAgeMs;
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      actor,
      csrf: randomBytes(32).toString('base64url'),
      expires: Math.min(now + this.#ttlMs, endsAt),
      endsAt,
    };
    this.#byId.set(session.id, session);
    return session;
  }

  /** The live session with this id (its idle expiry pushed back, up to its end), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.#byId.get(id);
    if (!session) return undefined;
    if (session.expires <= Date.now()) {
      this.delete(id);
      return undefined;
    }
    session.expires = Math.min(Date.now() + this.#ttlMs, session.endsAt);
    return session;
  }

  /** Whether `session` is still in the store and unexpired; unlike `get`, it does not extend it. */
  isLive(session: Session): boolean {
    return this.#byId.get(session.id) === session && session.expires > Date.now();
  }

  delete(id: string): void {
    if (this.#byId.delete(id)) this.#onEnd(id);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, session] of this.#byId) if (session.expires <= now) this.delete(id);
  }
}
