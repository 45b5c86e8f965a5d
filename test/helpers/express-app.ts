import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import type { Guard, RouteGuard } from '../../src/index.js';

/** What the route handler saw, so tests can assert it ran (or did not). */
export interface HandlerLog {
  runs: number;
}

type Mount = (app: express.Express, log: HandlerLog) => void;

/** An Express app whose every route answers what the handler received. */
export function appWith(mount: Mount): { app: express.Express; log: HandlerLog } {
  const app = express();
  const log: HandlerLog = { runs: 0 };
  mount(app, log);
  return { app, log };
}

/** A handler echoing `req.file(s)`, `req.body` and `req.photodna` (never the bytes). */
export function echo(log: HandlerLog): express.RequestHandler {
  return (req, res) => {
    log.runs += 1;
    const describe = (f: Express.Multer.File) => ({
      fieldname: f.fieldname,
      originalname: f.originalname,
      size: f.size,
      hasBuffer: Buffer.isBuffer(f.buffer),
      path: f.path,
    });
    const files = Array.isArray(req.files)
      ? req.files.map(describe)
      : req.files
        ? Object.fromEntries(Object.entries(req.files).map(([k, v]) => [k, v.map(describe)]))
        : undefined;
    res.json({
      file: req.file ? describe(req.file) : undefined,
      files,
      body: req.body,
      photodna: req.photodna,
    });
  };
}

export function guarded(guard: Guard | RouteGuard): Mount {
  return (app, log) => {
    app.use(guard);
    app.post('/upload', echo(log));
    app.post('/json', express.json(), echo(log));
  };
}

export async function listen(
  app: express.Express,
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * `guard.any()` on `POST /upload`, answering the `req.photodna` it was given, on a loopback port.
 * `close()` closes the server, then the guard.
 */
export async function serveUploads(
  guard: Guard,
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const app = express();
  app.post('/upload', guard.any(), (req, res) => void res.json({ photodna: req.photodna }));
  const server = await listen(app);
  return {
    url: server.url,
    port: server.port,
    close: async () => {
      await server.close();
      await guard.close();
    },
  };
}

/** `POST /upload` to `url` with `files` in fields `a`, `b`, … (each named `<field>.png`). */
export function postFiles(url: string, ...files: Buffer[]): request.Test {
  return files.reduce((req, bytes, i) => {
    const field = String.fromCharCode(97 + i);
    return req.attach(field, bytes, `${field}.png`);
  }, request(url).post('/upload'));
}
