/**
 * Uploads over raw sockets for the memory-budget tests (`limits.maxBufferedBytes`): whole ones
 * sent at once, and stalled ones that send part of a body and then hold it, counted, for as long
 * as the test wants.
 */
import { connect } from 'node:net';
import { png } from '../fixtures/images.js';
import type { Running } from './adapter-kit.js';
import { exchange, multipartBody, type RawAnswer } from './raw-upload.js';

export const B = 'BudgetBoundary';
export const KIB = 1024;
export const MIB = 1024 * KIB;

/** A multipart body of one PNG file part named `f`. */
export const upload = (data: Buffer, name = 'a.png') =>
  multipartBody(B, [{ name: 'f', filename: name, type: 'image/png', data }]);

/** The head of a multipart POST of `length` bytes. */
export const head = (path: string, length: number) => [
  `POST ${path} HTTP/1.1`,
  'Host: 127.0.0.1',
  'Connection: close',
  `Content-Type: multipart/form-data; boundary=${B}`,
  `Content-Length: ${length}`,
];

/**
 * A connection that announces `announced` bytes of upload, sends the head and `sent` (possibly
 * nothing), and then stalls until the test destroys its socket, or the server closes it
 * (`closed()`; `received()`: what the server wrote before).
 */
export function stall(
  port: number,
  path: string,
  announced: number,
  sent: Buffer = Buffer.alloc(0),
) {
  const chunks: Buffer[] = [];
  let closed = false;
  const socket = connect(port, '127.0.0.1', () => {
    socket.write(`${head(path, announced).join('\r\n')}\r\n\r\n`);
    if (sent.length > 0) socket.write(sent);
  });
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  return {
    socket,
    answered: () => chunks.length > 0,
    closed: () => closed,
    received: () => Buffer.concat(chunks).toString('latin1'),
  };
}

/** An upload of `size` bytes (a padded PNG) whose first `sent` bytes a stalled client sends. */
export function partOf(size: number, sent: number) {
  const body = upload(png(200, 200, 6, size));
  return { length: body.length, sent: body.subarray(0, sent) };
}

/** `body` posted whole to `path`; the answer as read off the socket. */
export const send = (server: Running, path: string, body: Buffer) =>
  exchange(server.port, head(path, body.length), body);

/** The error code of a JSON answer. */
export const codeOf = (answer: RawAnswer) =>
  (JSON.parse(answer.body.toString()) as { error?: { code: string } }).error?.code;
