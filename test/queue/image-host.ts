import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP server serving images for `url` jobs: each path answers from a script (its
 * n-th hit can differ, e.g. the service gets the image and the worker's evidence download a 404),
 * records every hit (path and query), and reports how many bytes an endless body got to write
 * before the client hung up.
 */
export type Answer =
  | { bytes: Buffer; status?: number; type?: string }
  | { redirect: string }
  /** An endless body of zeros in 64 KiB chunks, `declared` as its Content-Length or chunked. */
  | { endless: true; declared?: number }
  /** Headers only, then nothing: the body never comes. */
  | { stall: true };

export interface ImageHost {
  readonly origin: string;
  readonly port: number;
  /** `pathname + search` of every request, in order. */
  readonly hits: string[];
  /** Bytes written to each endless body before its client went away, by path. */
  readonly written: Map<string, { bytes: number; closed: boolean }>;
  close(): Promise<void>;
}

export async function startImageHost(
  routes: Record<string, Answer | ((hit: number) => Answer)>,
  port = 0,
): Promise<ImageHost> {
  const hits: string[] = [];
  const written = new Map<string, { bytes: number; closed: boolean }>();
  const count = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://host');
    hits.push(`${url.pathname}${url.search}`);
    const n = (count.get(url.pathname) ?? 0) + 1;
    count.set(url.pathname, n);
    const route = routes[url.pathname];
    const answer = typeof route === 'function' ? route(n) : route;
    if (!answer) {
      res.writeHead(404).end();
      return;
    }
    if ('redirect' in answer) {
      res.writeHead(302, { location: answer.redirect }).end();
      return;
    }
    if ('stall' in answer) {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      return;
    }
    if ('endless' in answer) {
      endless(res, answer.declared, written, url.pathname);
      return;
    }
    res.writeHead(answer.status ?? 200, { 'content-type': answer.type ?? 'image/png' });
    res.end(answer.bytes);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${bound}`,
    port: bound,
    hits,
    written,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const CHUNK = Buffer.alloc(64 * 1024);
/** An endless body stops here at the latest (the test fails if a client read it all). */
export const ENDLESS_MAX = 256 * 1024 * 1024;

function endless(
  res: ServerResponse,
  declared: number | undefined,
  written: ImageHost['written'],
  path: string,
): void {
  const state = { bytes: 0, closed: false };
  written.set(path, state);
  res.writeHead(200, {
    'content-type': 'image/png',
    ...(declared === undefined ? {} : { 'content-length': String(declared) }),
  });
  res.on('close', () => {
    state.closed = true;
  });
  const total = declared ?? ENDLESS_MAX;
  const pump = () => {
    while (!state.closed && state.bytes < total) {
      state.bytes += CHUNK.length;
      if (!res.write(CHUNK)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!state.closed) res.end();
  };
  pump();
}
