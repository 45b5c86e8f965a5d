/**
 * A bounded download of one image by URL: http(s) only, at most `maxBytes` read (a larger
 * `Content-Length` is refused before the body is read; a body that grows past the bound is cut
 * off), a deadline, and at most `maxRedirects` redirects, each checked like the first URL. Used by
 * the queue worker (URL jobs, their evidence) and the emulator's Match-by-URL form. Never throws:
 * the outcome says what went wrong, in words safe for logs (query strings redacted).
 */
import { redactUrl, redactUrlIn } from './redact.js';

export interface DownloadOptions {
  /** Most bytes accepted. */
  maxBytes: number;
  /** The whole download's deadline in ms (redirects and body included). */
  timeoutMs: number;
  /** Redirects followed; `0` refuses any. */
  maxRedirects: number;
  /** Aborts the download (e.g. a closing worker). */
  signal?: AbortSignal;
}

export type DownloadOutcome =
  | { ok: true; bytes: Buffer }
  | {
      ok: false;
      /**
       * `not-allowed`: refused before any request (not a URL, not http(s), a redirect's target);
       * `unreachable`: no 200 answer (network error, timeout, HTTP status, too many redirects);
       * `too-large`: over `maxBytes`; `aborted`: `signal` fired.
       */
      reason: 'not-allowed' | 'unreachable' | 'too-large' | 'aborted';
      detail: string;
    };

/** Whether `value` is an absolute http(s) URL. */
export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** Whether a URL carries a user name or password (fetch refuses those, quoting the URL whole). */
export function hasCredentials(url: string | URL): boolean {
  const { username, password } = typeof url === 'string' ? new URL(url) : url;
  return username !== '' || password !== '';
}

const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export async function download(url: string, options: DownloadOptions): Promise<DownloadOutcome> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    return { ok: false, reason: 'not-allowed', detail: 'the image URL is not a URL' };
  }
  try {
    for (let redirects = 0; ; redirects++) {
      if (current.protocol !== 'http:' && current.protocol !== 'https:') {
        const detail = `${current.protocol} URLs are not fetched (http and https only)`;
        return { ok: false, reason: 'not-allowed', detail };
      }
      if (hasCredentials(current)) {
        // fetch refuses them anyway, quoting the URL, password included, in its message.
        const detail = `${redactUrl(current.href)}: URLs with a user name or password are not fetched`;
        return { ok: false, reason: 'not-allowed', detail };
      }
      const response = await fetch(current, { redirect: 'manual', signal });
      const location = response.headers.get('location');
      if (REDIRECTS.has(response.status) && location !== null) {
        await response.body?.cancel().catch(() => undefined);
        if (redirects >= options.maxRedirects) {
          return {
            ok: false,
            reason: 'unreachable',
            detail: `${redactUrl(current.href)} redirected more than ${options.maxRedirects} times`,
          };
        }
        current = new URL(location, current);
        continue;
      }
      return await readBody(response, current, options.maxBytes);
    }
  } catch (error) {
    if (options.signal?.aborted) return { ok: false, reason: 'aborted', detail: 'aborted' };
    // fetch's own messages may quote the URL as given: its secret parts go.
    const cause = deadline.aborted
      ? `no answer within ${options.timeoutMs} ms`
      : redactUrlIn(
          redactUrlIn(error instanceof Error ? causeOf(error) : String(error), url),
          current.href,
        );
    return {
      ok: false,
      reason: 'unreachable',
      detail: `${redactUrl(current.href)} could not be downloaded: ${cause}`,
    };
  }
}

async function readBody(response: Response, url: URL, maxBytes: number): Promise<DownloadOutcome> {
  const where = redactUrl(url.href);
  if (response.status !== 200 || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    return {
      ok: false,
      reason: 'unreachable',
      detail: `${where} answered HTTP ${response.status}`,
    };
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  const tooLarge = `${where} is larger than ${maxBytes} bytes`;
  if (declared > maxBytes) {
    await response.body.cancel().catch(() => undefined);
    return { ok: false, reason: 'too-large', detail: tooLarge };
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    // Leaving the loop cancels the body: the rest is never read.
    if (size > maxBytes) return { ok: false, reason: 'too-large', detail: tooLarge };
    chunks.push(chunk);
  }
  return { ok: true, bytes: Buffer.concat(chunks, size) };
}

/** undici's `fetch failed` says little; its cause (ECONNREFUSED, ...) says more. */
function causeOf(error: Error): string {
  const cause = error.cause;
  if (cause instanceof Error) return `${error.message} (${cause.message})`;
  return error.message;
}
