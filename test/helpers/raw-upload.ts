import { connect, type Socket } from 'node:net';

/** A multipart body by hand, for bodies supertest cannot make (malformed, aborted). */
export function multipartBody(
  boundary: string,
  parts: Array<{ name: string; filename?: string; type?: string; data: Buffer | string }>,
): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: ${disposition}\r\n${part.type ? `Content-Type: ${part.type}\r\n` : ''}\r\n`,
      ),
      Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/**
 * Sends the request head and the first `sendBytes` of the body over a raw socket, then destroys
 * the socket: a client that aborts mid-upload. Resolves once the socket is closed.
 */
export function abortMidUpload(
  port: number,
  path: string,
  body: Buffer,
  boundary: string,
  sendBytes: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      socket.write(body.subarray(0, sendBytes), () => {
        setTimeout(() => socket.destroy(), 50);
      });
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

/**
 * Sends a whole multipart upload over a raw socket and leaves the socket open (the test decides
 * when the client goes): `socket.destroy()` is an uploader who leaves.
 */
export function sendUpload(port: number, path: string, body: Buffer, boundary: string): Socket {
  const socket = connect(port, '127.0.0.1', () => {
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body);
  });
  socket.on('error', () => {});
  return socket;
}

/** The first answer read off a raw connection: `status` 0 when it closed before one came. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Opens a connection, writes `head` (the request line and header lines, as sent: duplicates,
 * odd lengths) and then `body` — bytes, or chunks written one after the other (a slow client,
 * which stops writing once an answer came) — and reads the first answer, bytes decoded by its
 * `Content-Length` or chunked framing. A server that neither answers nor closes within
 * `timeoutMs` fails it: a wedged request.
 */
export function exchange(
  port: number,
  head: string[],
  body: Buffer | AsyncIterable<Buffer>,
  timeoutMs = 30_000,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let answer: RawAnswer | undefined;
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms: ${head[0]}`));
    }, timeoutMs);
    const settle = (result: RawAnswer) => {
      answer = result;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseAnswer(received, false);
      if (parsed) settle(parsed);
    });
    // A server may reset a connection whose body it stopped reading: an answer read is kept.
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!answer)
        settle(parseAnswer(received, true) ?? { status: 0, headers: {}, body: received });
    });
    socket.once('connect', async () => {
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
      if (Buffer.isBuffer(body)) {
        socket.write(body);
        return;
      }
      for await (const chunk of body) {
        if (answer || socket.destroyed) return;
        await new Promise((written) => socket.write(chunk, written));
      }
    });
  });
}

/** A whole HTTP/1.1 answer in `bytes`, or undefined while more is to come (`closed`: none is). */
function parseAnswer(bytes: Buffer, closed: boolean): RawAnswer | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine.split(' ')[1]);
  const rest = bytes.subarray(end + 4);
  const length = headers['content-length'];
  const whole =
    headers['transfer-encoding'] === 'chunked'
      ? dechunked(rest)
      : length !== undefined && rest.length >= Number(length)
        ? rest.subarray(0, Number(length))
        : undefined;
  if (whole) return { status, headers, body: whole };
  // Neither framing (or a cut one): the answer is what came before the connection closed.
  return closed ? { status, headers, body: rest } : undefined;
}

/** A chunked body's bytes, or undefined until its last (zero-size) chunk came. */
function dechunked(bytes: Buffer): Buffer | undefined {
  const chunks: Buffer[] = [];
  for (let at = 0; ; ) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString(), 16);
    if (Number.isNaN(size)) return undefined; // not chunked after all: read up to the close
    if (size === 0) return Buffer.concat(chunks);
    if (bytes.length < lineEnd + 2 + size + 2) return undefined;
    chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
