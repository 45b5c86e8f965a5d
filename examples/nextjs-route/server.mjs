// Runs the route handler of route.mjs the way Next.js would, on a tiny node:http server: each
// Node request becomes a Web `Request` (body streamed, `signal` aborted when the client leaves,
// the socket's address appended to X-Forwarded-For as a proxy does), and the `Response` is
// written back. In a Next.js app you only write route.mjs.
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { emulator, guard, POST } from './route.mjs';

async function toWebRequest(req, res) {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const headers = new Headers(
    Object.entries(req.headers).flatMap(([name, value]) => [value].flat().map((v) => [name, v])),
  );
  // As nginx's $proxy_add_x_forwarded_for: what the client sent, then the address it came from.
  headers.append('x-forwarded-for', req.socket.remoteAddress ?? '');
  return new Request(new URL(req.url, `http://${req.headers.host ?? 'localhost'}`), {
    method: req.method,
    headers,
    body: hasBody ? Readable.toWeb(req) : undefined,
    duplex: 'half',
    signal: controller.signal,
  });
}

async function handle(req, res) {
  const request = await toWebRequest(req, res);
  const route = new URL(request.url).pathname;
  const response =
    route === '/upload' && request.method === 'POST'
      ? await POST(request)
      : new Response('not found', { status: 404 });
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) Readable.fromWeb(response.body).pipe(res);
  else res.end();
}

const server = createServer((req, res) => {
  // A request that fails (a Host header no URL can hold, a bug) answers 500 and is logged: an
  // async handler's rejection left unhandled would stop the whole server.
  handle(req, res).catch((error) => {
    console.error(`request failed: ${error.message}`);
    if (res.headersSent) res.destroy();
    else res.writeHead(500).end();
  });
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

// Ctrl-C / SIGTERM: stop taking requests, let the guard go idle, stop the emulator.
async function shutdown() {
  await new Promise((resolve) => server.close(resolve));
  await guard.close();
  await emulator?.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
