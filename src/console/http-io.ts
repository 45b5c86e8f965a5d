/**
 * The few HTTP helpers the console needs on Node's own request and response: security headers
 * on every answer, JSON in (bounded) and out, cookies, and what the host's framework says of the
 * connection (TLS, the client's address).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { validIp } from '../core/client-address.js';
import { visible } from '../printable.js';

/** No inline script or style, nothing from elsewhere, no framing, no images at all. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The largest JSON body the console reads (a release reason is the longest). */
const MAX_BODY = 16 * 1024;

export class HttpError extends Error {
  readonly status: number;
  /** Seconds to wait, sent as `Retry-After` (a 429). */
  readonly retryAfter: number | undefined;
  constructor(status: number, message: string, retryAfter?: number) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export function setSecurityHeaders(res: ServerResponse): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
}

/**
 * What the console sends the page, as JSON: every string in it through `visible`, so a bidi
 * override, an invisible format character or a control character an uploader put in a route,
 * field name or User-Agent reaches the screen as its `\uXXXX` escape, not as a character that
 * makes the text read otherwise. One rule for the API's answers and the live stream's events.
 */
export function consoleJson(body: unknown): string {
  return JSON.stringify(body, (_key, value) =>
    typeof value === 'string' ? visible(value) : value,
  );
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = consoleJson(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, type: string, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', `${type}; charset=utf-8`);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** Reads a JSON object body of at most 16 KiB; anything else is a 400/413/415 `HttpError`. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim()
    .toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'expected application/json');
  // A host's body parser (express.json(), koa-bodyparser) may have read it already.
  const parsed = (req as { body?: unknown }).body;
  if (
    req.readableEnded &&
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed)
  ) {
    return parsed as Record<string, unknown>;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'malformed JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'expected a JSON object');
  }
  return value as Record<string, unknown>;
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** What the Koa mount learnt from `ctx` about a request (Koa keeps it off Node's request). */
interface KoaFacts {
  /** `ctx.secure`: TLS, or a TLS proxy the app trusts. */
  secure: boolean;
  /** `ctx.ip`: the client's address under the app's `proxy` / `maxIpsCount` settings. */
  ip: string;
}

const fromKoa = new WeakMap<IncomingMessage, KoaFacts>();

/** Called by the Koa mount with what `ctx` says of the request, as Express says on its `req`. */
export function markKoa(req: IncomingMessage, facts: KoaFacts): void {
  fromKoa.set(req, facts);
}

/**
 * Whether the request reached the host over TLS: on its own socket, or through a proxy the host's
 * framework trusts (Express `req.secure` under `trust proxy`, Koa `ctx.secure` under `proxy`).
 * A TLS-terminating proxy in front is the usual deployment: the socket alone would say no there,
 * and the session cookie would go out without `Secure`. `X-Forwarded-Proto` is never read here:
 * without the host's trust in a proxy, anyone can send it.
 */
export function isTls(req: IncomingMessage): boolean {
  return (
    (req.socket as { encrypted?: boolean }).encrypted === true ||
    (req as { secure?: unknown }).secure === true ||
    fromKoa.get(req)?.secure === true
  );
}

/**
 * The client's address as the host's framework derives it from its trust settings (Express
 * `req.ip` under `trust proxy`, Koa `ctx.ip` under `app.proxy`), else the socket's peer; '' when
 * neither is known. `X-Forwarded-For` is never read here: without the host's trust in a proxy,
 * anyone can write it. A derived value that is not an IP address is not used.
 */
export function clientIp(req: IncomingMessage): string {
  return (
    validIp(fromKoa.get(req)?.ip) ??
    validIp(expressIp(req)) ??
    validIp(req.socket?.remoteAddress) ??
    ''
  );
}

/** Express's `req.ip` (a getter on its request), if this is an Express request. */
function expressIp(req: IncomingMessage): string | undefined {
  try {
    const ip = (req as { ip?: unknown }).ip;
    return typeof ip === 'string' ? ip : undefined;
  } catch {
    return undefined; // a host's own `trust proxy` function threw: fall back to the peer
  }
}
