/**
 * One viewer of the live panel: a server-sent-events response fed only while the viewer may see
 * it. Before each write the stream's session must still be live (not logged out, replaced or
 * expired); with the host's `authorize`, a write finding the last "yes" older than
 * `RECHECK_MS` waits while the host is asked again. A refusal, a throw or the session's end
 * ends the response (`res.end()`, never a write after it); the feed is told at once.
 */
import type { ServerResponse } from 'node:http';

/** With `authorize`: no event is written more than this long after the host last said yes. */
export const RECHECK_MS = 5_000;
/** Writes held back while the host is asked; beyond this the stream ends (the page reconnects). */
const MAX_HELD = 100;
/**
 * Bytes written but not yet taken by a viewer that stopped reading; beyond this the stream ends
 * (events come from uploads, which anyone can send: an unread stream must not grow without end).
 */
const MAX_UNREAD_BYTES = 1024 * 1024;

/** What a stream asks before it writes (see `ConsoleAuth.streamAccess`). */
export interface StreamAccess {
  /** The console session the stream was opened under. */
  readonly sessionId: string;
  /** False once that session has ended: logged out, replaced or expired. Never extends it. */
  live(): boolean;
  /** Asks the host's `authorize` again (a throw counts as no); undefined without one. */
  readonly recheck: (() => Promise<boolean>) | undefined;
}

export class LiveStream {
  readonly #res: ServerResponse;
  readonly #access: StreamAccess;
  readonly #onEnd: (stream: LiveStream) => void;
  /** When the host's last "yes" was asked for (the stream's own request is the first). */
  #confirmedAt: number;
  /** Writes waiting for the host's answer, in order. */
  #held: string[] = [];
  #asking: Promise<void> | undefined = undefined;

  /** `confirmedAt`: when the request opening the stream was authorized. */
  constructor(
    res: ServerResponse,
    access: StreamAccess,
    confirmedAt: number,
    onEnd: (stream: LiveStream) => void,
  ) {
    this.#res = res;
    this.#access = access;
    this.#confirmedAt = confirmedAt;
    this.#onEnd = onEnd;
    res.once('close', () => this.end()); // the client left
  }

  get sessionId(): string {
    return this.#access.sessionId;
  }

  write(chunk: string): void {
    if (this.#ended) return;
    if (!this.#access.live()) {
      this.end();
      return;
    }
    const stale = Date.now() - this.#confirmedAt >= RECHECK_MS;
    if (this.#asking === undefined && !(this.#access.recheck && stale)) {
      this.#send(chunk);
      return;
    }
    if (this.#held.length >= MAX_HELD) {
      this.end();
      return;
    }
    this.#held.push(chunk);
    this.#asking ??= this.#ask();
  }

  #send(chunk: string): void {
    if (this.#ended) return;
    this.#res.write(chunk);
    if (this.#res.writableLength <= MAX_UNREAD_BYTES) return;
    // Cut off, not ended: what waits for the viewer is dropped at once.
    this.#held = [];
    this.#onEnd(this);
    this.#res.destroy();
  }

  /** Ends the response (if still open) and forgets it; harmless twice. */
  end(): void {
    this.#held = [];
    this.#onEnd(this);
    if (!this.#ended) this.#res.end();
  }

  get #ended(): boolean {
    return this.#res.writableEnded || this.#res.destroyed;
  }

  async #ask(): Promise<void> {
    const asked = Date.now();
    let yes = false;
    try {
      yes = (await this.#access.recheck?.()) === true;
    } catch {
      yes = false;
    }
    this.#asking = undefined;
    if (this.#ended) return;
    if (!yes || !this.#access.live()) {
      this.end();
      return;
    }
    this.#confirmedAt = asked;
    if (Date.now() - asked >= RECHECK_MS) {
      this.#asking = this.#ask(); // a yes that took this long is already too old: ask again
      return;
    }
    const held = this.#held;
    this.#held = [];
    for (const chunk of held) this.#send(chunk);
  }
}
