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
