import type { ServerResponse } from 'node:http';
import type { ApiAnswer } from './responses.js';

/** Writes an answer: JSON (or a raw string body, for the `malformed` fault). */
export function sendAnswer(res: ServerResponse, answer: ApiAnswer): void {
  if (res.destroyed || res.headersSent) return;
  const payload = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  res.writeHead(answer.httpStatus, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    ...answer.headers,
  });
  res.end(payload);
}

/** Writes a JSON body with a status (admin routes). */
export function sendJson(
  res: ServerResponse,
  httpStatus: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendAnswer(res, { httpStatus, body, headers });
}
