import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { isContentCoded, isMultipartType } from './is-multipart.js';

/** A request body another parser is about to read, with the request's headers. */
type RawBody = Readable & { headers: IncomingHttpHeaders };

const noop = (): void => {};

/**
 * The guard's own parser's verdict on a multipart body that another parser reads (Fastify
 * `'scan'` mode: @fastify/multipart, whose @fastify/busboy drops or half-reads parts that busboy
 * refuses — a header line without a colon, control bytes in a header, a part header over 16 KiB
 * — and reads an empty body as an empty form). The same chunks are fed, as they arrive, to
 * busboy, the parser multer runs where the guard parses (file contents discarded, field values
 * not kept), so that the guard refuses such a body (400 `MALFORMED_MULTIPART`) whichever parser
 * reads it. Only the host's parser's result reaches the handler, and the guard checks all of it:
 * this is about answering alike, not about what is checked.
 */
export class BodyCheck {
  readonly #body: RawBody;
  readonly #parser: busboy.Busboy;
  /** Resolves with busboy's refusal, or with undefined once it read the whole body without one. */
  readonly #verdict: Promise<Error | undefined>;
  #refusal: Error | undefined;
  readonly #onData: (chunk: Buffer) => void;
  readonly #onEnd: () => void;

  /**
   * Starts watching `body`, which nobody has read yet: call it just before the host's parser
   * starts (it pauses the stream until that parser's `pipe` resumes it, so both see every
   * chunk). Throws, reading nothing, when multer would not read the body's type (its type test,
   * then busboy's: no boundary, a malformed type or a list of types), or the body is
   * content-coded (`isContentCoded`). Undefined when something read the body already: what
   * remains would be judged as a body cut short.
   */
  static watch(body: RawBody): BodyCheck | undefined {
    if (body.readableFlowing !== null || body.readableEnded) return undefined;
    // The type only, not multer's test of a length too: the host's parser reads a body that
    // announces none (HTTP/2 without `Content-Length`), and busboy refuses one that is empty.
    const type = body.headers['content-type'];
    if (typeof type !== 'string' || !isMultipartType(type)) {
      throw new Error('a multipart Content-Type the parser will not read (malformed parameters)');
    }
    if (isContentCoded(body.headers)) {
      throw new Error('a content-coded multipart body (Content-Encoding), which no parser decodes');
    }
    return new BodyCheck(body, busboy({ headers: body.headers, limits: { fieldSize: 0 } }));
  }

  private constructor(body: RawBody, parser: busboy.Busboy) {
    this.#body = body;
    this.#parser = parser;
    this.#refusal = undefined;
    this.#verdict = new Promise((resolve) => {
      parser.on('error', (error: Error) => {
        this.#refusal ??= error;
        this.stop();
        resolve(this.#refusal);
      });
      parser.on('close', () => resolve(this.#refusal));
    });
    // As multer: a part whose Content-Disposition names no field is malformed.
    const nameless = (name: string | undefined) => {
      if (name === undefined) parser.destroy(new Error('Field name missing'));
    };
    parser.on('field', nameless);
    parser.on('file', (name, stream) => {
      stream.on('error', noop).resume();
      nameless(name);
    });
    this.#onData = (chunk) => {
      parser.write(chunk);
    };
    this.#onEnd = () => {
      parser.end();
    };
    body.on('data', this.#onData);
    body.on('end', this.#onEnd);
    // Listening for 'data' starts the flow on the next tick: held until the host's parser pipes.
    body.pause();
  }

  /**
   * `parsing` (the host's parser reading the body), refused as soon as busboy refuses the body:
   * an early refusal answers at once, while the host's parser may still be reading (or waits
   * on a part it dropped). A body read to its end waits for busboy's verdict on that end (an
   * empty or unterminated body). Always stops watching.
   */
  async alongside<T>(parsing: Promise<T>): Promise<T> {
    const read = parsing.then((value) => ({ value }));
    // Answered from the refusal, the host parser's own later failure has no one to tell.
    read.catch(noop);
    try {
      const first = await Promise.race([this.#verdict, read]);
      if (first instanceof Error) throw first;
      const settled = this.#body.readableEnded ? await this.#verdict : this.#refusal;
      if (settled) throw settled;
      if (first === undefined) return (await read).value;
      return first.value;
    } finally {
      this.stop();
    }
  }

  /** Stops feeding busboy; the host's parser reads on alone. */
  stop(): void {
    this.#body.off('data', this.#onData);
    this.#body.off('end', this.#onEnd);
    if (!this.#parser.destroyed) {
      this.#parser.on('error', noop);
      this.#parser.destroy();
    }
  }
}
