/**
 * Console sessions, in memory: a random id in an `HttpOnly; SameSite=Strict` cookie, bound to
 * the reviewer and to a CSRF token that every state-changing request must echo in a header.
 * Bounded in number; idle sessions expire.
 */
import { randomBytes } from 'node:crypto';

export interface Session {
  id: string;
  actor: string;
  csrf: string;
  expires: number;
}

const MAX_SESSIONS = 1_000;

export class Sessions {
  readonly #byId = new Map<string, Session>();
  readonly #ttlMs: number;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  create(actor: string): Session {
    this.#sweep();
    if (this.#byId.size >= MAX_SESSIONS) {
      const oldest = this.#byId.keys().next().value;
      if (oldest !== undefined) this.#byId.delete(oldest);
    }
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      actor,
      csrf: randomBytes(32).toString('base64url'),
      expires: Date.now() + this.#ttlMs,
    };
    this.#byId.set(session.id, session);
    return session;
  }

  /** The live session with this id (its expiry pushed back), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.#byId.get(id);
    if (!session) return undefined;
    if (session.expires <= Date.now()) {
      this.#byId.delete(id);
      return undefined;
    }
    session.expires = Date.now() + this.#ttlMs;
    return session;
  }

  delete(id: string): void {
    this.#byId.delete(id);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, session] of this.#byId) if (session.expires <= now) this.#byId.delete(id);
  }
}
