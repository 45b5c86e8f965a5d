import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ADMIN_PREFIX, handleAdmin } from './admin.js';
import { API_ROUTES, handleApiCall } from './api.js';
import { sendAnswer } from './http-io.js';
import { apimError } from './responses.js';
import type { EmulatorState } from './state.js';

/** Time a client gets to send a whole request (headers and body). */
const REQUEST_TIMEOUT_MS = 60_000;

/** The emulator's HTTP server: admin routes, the four PhotoDNA operations, 404 for the rest. */
export function createEmulatorServer(state: EmulatorState): Server {
  const server = createServer((req, res) => {
    route(req, res, state).catch(() => {
      // A bug must not take the emulator down: answer 500 if nothing was sent yet.
      if (res.headersSent) res.destroy();
      else sendAnswer(res, apimError(500));
    });
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = Math.min(server.headersTimeout, REQUEST_TIMEOUT_MS);
  // A malformed request line or header: answer 400 and drop the connection, never throw.
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  state: EmulatorState,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://emulator.invalid');
  } catch {
    req.resume();
    return sendAnswer(res, apimError(404));
  }
  if (url.pathname.startsWith(ADMIN_PREFIX)) return handleAdmin(req, res, state, url.pathname);
  const api = API_ROUTES.get(url.pathname.toLowerCase().replace(/\/+$/, ''));
  if (!api || req.method !== 'POST') {
    req.resume();
    return sendAnswer(res, apimError(404));
  }
  return handleApiCall(req, res, state, api, url);
}
