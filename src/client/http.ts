import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import type { PhotoDnaServiceError } from '../errors.js';
import { malformedError, networkError, timeoutError } from './failures.js';

/**
 * HTTP transport: one bounded undici `Pool` per client, timeouts far below undici's 300 s
 * defaults, an overall deadline per call and a byte cap on the answer.
 */

export interface HttpSettings {
  connections: number;
  connectMs: number;
  headersMs: number;
  bodyMs: number;
  callMs: number;
  maxResponseBytes: number;
}

export interface HttpRequest {
  /** Path and query, e.g. `/v2/PhotoDNA/Match?enhance=false`. */
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function createPool(origin: string, settings: HttpSettings): Pool {
  return new Pool(origin, {
    connections: settings.connections,
    connectTimeout: settings.connectMs,
    headersTimeout: settings.headersMs,
    bodyTimeout: settings.bodyMs,
  });
}

/** Raised (as the abort reason) when the overall per-call deadline passes. */
class CallDeadlineError extends Error {
  constructor(readonly ms: number) {
    super(`PhotoDNA did not answer within timeouts.callMs (${ms} ms).`);
    this.name = 'CallDeadlineError';
  }
}

class ResponseTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`PhotoDNA answered with more than maxResponseBytes (${limit} bytes).`);
    this.name = 'ResponseTooLargeError';
  }
}

/**
 * POSTs one request and reads the whole answer. Throws the raw transport error (or the caller's
 * abort reason); `transportFailure` classifies it.
 */
export async function post(
  pool: Pool,
  request: HttpRequest,
  settings: HttpSettings,
  signal: AbortSignal | undefined,
  onSent: () => void,
): Promise<HttpResponse> {
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new CallDeadlineError(settings.callMs)),
    settings.callMs,
  );
  const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    const response = await pool.compose(notifySent(onSent)).request({
      method: 'POST',
      path: request.path,
      headers: request.headers,
      body: request.body,
      signal: combined,
    });
    const body = await readCapped(
      response.body,
      response.headers['content-length'],
      settings.maxResponseBytes,
    );
    return { status: response.statusCode, headers: response.headers, body };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An interceptor that calls `onSent` when undici writes the request to a connected socket (its
 * `onRequestStart`), after any connection setup and pool queueing.
 */
function notifySent(onSent: () => void): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) =>
    dispatch(options, {
      onRequestStart(controller, context) {
        onSent();
        handler.onRequestStart?.(controller, context);
      },
      onRequestUpgrade: (...args) => handler.onRequestUpgrade?.(...args),
      onResponseStart: (...args) => handler.onResponseStart?.(...args),
      onResponseData: (...args) => handler.onResponseData?.(...args),
      onResponseEnd: (...args) => handler.onResponseEnd?.(...args),
      onResponseError: (...args) => handler.onResponseError?.(...args),
    });
}

async function readCapped(
  stream: Readable,
  contentLength: string | string[] | undefined,
  limit: number,
): Promise<Buffer> {
  // Destroying an unfinished body makes undici emit an abort error: expected, not a crash.
  stream.on('error', () => {});
  const declared = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength);
  if (Number.isFinite(declared) && declared > limit) {
    stream.destroy();
    throw new ResponseTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Leaving the loop destroys the stream (and the connection with it).
    if (size > limit) throw new ResponseTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Error codes that prove the request never left this process (nothing reached the service). */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED', 'ETIMEDOUT']);

export interface TransportFailure {
  error: PhotoDnaServiceError;
  /** True when the request provably never reached the service. */
  notSent: boolean;
}

/** Classifies anything `post` threw (other than the caller's own abort). */
export function transportFailure(thrown: unknown, settings: HttpSettings): TransportFailure {
  const error = withoutAnswerBytes(thrown);
  if (error instanceof CallDeadlineError) {
    return { error: timeoutError(error.message, error), notSent: false };
  }
  if (error instanceof ResponseTooLargeError) {
    return {
      error: malformedError(`with more than ${error.limit} bytes`, { cause: error }),
      notSent: false,
    };
  }
  const code = errorCode(error);
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return {
      error: timeoutError(
        `Could not connect to PhotoDNA within timeouts.connectMs (${settings.connectMs} ms).`,
        error,
        false,
      ),
      notSent: true,
    };
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return {
      error: timeoutError(
        `PhotoDNA sent no answer within timeouts.headersMs (${settings.headersMs} ms).`,
        error,
      ),
      notSent: false,
    };
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return {
      error: timeoutError(
        `PhotoDNA stalled sending its answer for timeouts.bodyMs (${settings.bodyMs} ms).`,
        error,
      ),
      notSent: false,
    };
  }
  if (code !== undefined && NOT_SENT_CODES.has(code)) {
    return {
      error: networkError(`Could not connect to PhotoDNA (${code}).`, true, error, false),
      notSent: true,
    };
  }
  if (code !== undefined && RESET_CODES.has(code)) {
    return {
      error: networkError(`The connection to PhotoDNA failed (${code}).`, true, error),
      notSent: false,
    };
  }
  const name = error instanceof Error ? (code ?? error.name) : 'unknown error';
  return {
    error: networkError(`The call to PhotoDNA failed (${name}).`, false, error),
    notSent: false,
  };
}

/**
 * The transport error, to keep as a failure's `cause`, without the bytes of the answer: undici's
 * `HTTPParserError` keeps the rest of an answer it could not parse as `data` (a string, which
 * loggers print), and a service or proxy that quotes the request back puts the subscription key
 * (or NCMEC credentials) there.
 */
function withoutAnswerBytes(error: unknown): unknown {
  if (!(error instanceof Error) || !Object.hasOwn(error, 'data')) return error;
  const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
  for (const key of Object.getOwnPropertyNames(error)) {
    if (key === 'data') continue;
    Object.defineProperty(
      copy,
      key,
      Object.getOwnPropertyDescriptor(error, key) as PropertyDescriptor,
    );
  }
  return copy;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errors } = error as { code?: unknown; errors?: unknown };
  if (typeof code === 'string') return code;
  if (Array.isArray(errors)) return errorCode(errors[0]);
  return undefined;
}
