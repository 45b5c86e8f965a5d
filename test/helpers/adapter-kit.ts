import { createHash } from 'node:crypto';
/**
 * What every adapter entry of the shared suite has in common: the route specs, the echo the
 * handlers answer, and the listening server it returns.
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GuardHandle } from '../../src/adapters/guard-factory.js';
import type { Guard, GuardOptions } from '../../src/index.js';

export interface HandlerLog {
  runs: number;
}

/** What the echo handler answers: what reached the route, never the bytes. */
export interface Echo {
  file?: { fieldname: string; originalname: string; size: number; hasBuffer: boolean };
  files?: unknown;
  body?: unknown;
  photodna?: { status: string; files: Array<Record<string, unknown>> };
}

/**
 * The guard as route picks see it: the Express guard's methods (`single`, `route(...)`...). The
 * Fastify entry hands a recorder with the same methods that builds the route's `config.photodna`.
 */
export type AnyGuard = Guard;
type Pick = (guard: AnyGuard) => unknown;

/** A route: `use` picks route middleware from the guard (absent: the route relies on `app.use(guard)`). */
export interface RouteSpec {
  path: string;
  use?: Pick;
}

export interface Running {
  url: string;
  port: number;
  log: HandlerLog;
  guard: GuardHandle;
  /** Requests whose head the server has read (its 'request' events), answered or not. */
  requests(): number;
  close(): Promise<void>;
}

export interface Adapter {
  name: string;
  /**
   * The host's own parser reads the body and the guard checks what it left (`scan()` mode).
   * Its limits, its errors and how it reads a part are its own, not the guard's: the cases
   * about parsing run only where the guard parses (this is absent).
   */
  hostParser?: 'multer' | '@fastify/multipart';
  /**
   * Where the host's parser leaves files (with `hostParser`): in memory (`file.buffer`) or on
   * disk (`file.path`, which the guard reads, e.g. `saveRequestFiles()`).
   */
  hostStorage?: 'memory' | 'disk';
  /** Starts a server; `global` mounts `app.use(guard)` before the routes. */
  start(
    options: GuardOptions,
    routes: RouteSpec[],
    config?: { global?: boolean; trustProxy?: boolean },
  ): Promise<Running>;
}

export const describeFile = (f: {
  fieldname: string;
  originalname: string;
  size: number;
  mimetype?: string;
  clientMimetype?: string;
  buffer?: Buffer;
}) => ({
  fieldname: f.fieldname,
  originalname: f.originalname,
  size: f.size,
  hasBuffer: Buffer.isBuffer(f.buffer),
  mimetype: f.mimetype,
  clientMimetype: f.clientMimetype,
  // What the handler holds, by hash (never the bytes themselves).
  sha256: f.buffer ? createHash('sha256').update(f.buffer).digest('hex') : undefined,
});

export function describeFiles(files: unknown): unknown {
  if (Array.isArray(files)) return files.map(describeFile);
  if (files && typeof files === 'object') {
    return Object.fromEntries(
      Object.entries(files).map(([k, v]) => [k, (v as never[]).map(describeFile)]),
    );
  }
  return undefined;
}

export async function listening(
  server: Server,
  guard: GuardHandle,
  log: HandlerLog,
): Promise<Running> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  let requests = 0;
  server.on('request', () => {
    requests += 1;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    guard,
    requests: () => requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await guard.close();
    },
  };
}

/** The echo handler of an Express entry: what reached the route (`req.file(s)`, `req.body`). */
export function expressEcho(log: HandlerLog) {
  return (
    req: IncomingMessage & { file?: never; files?: unknown; body?: unknown; photodna?: unknown },
    res: ServerResponse & { json(body: unknown): void },
  ): void => {
    log.runs += 1;
    res.json({
      file: req.file ? describeFile(req.file) : undefined,
      files: describeFiles(req.files),
      body: req.body,
      photodna: req.photodna,
    });
  };
}

/** The echo handler of a Koa entry: what reached the route (`ctx.file(s)`, `ctx.request.body`). */
export function koaEcho(log: HandlerLog) {
  return (ctx: {
    file?: never;
    files?: unknown;
    request: unknown;
    state: { photodna?: unknown };
    body?: unknown;
  }): void => {
    log.runs += 1;
    ctx.body = {
      file: ctx.file ? describeFile(ctx.file) : undefined,
      files: describeFiles(ctx.files),
      body: (ctx.request as { body?: unknown }).body,
      photodna: ctx.state.photodna,
    };
  };
}
