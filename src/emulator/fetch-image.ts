import { isIP } from 'node:net';
import { download } from '../download.js';

/** How long the URL form may take to download its image. */
const FETCH_TIMEOUT_MS = 10_000;

export type FetchOutcome =
  | { ok: true; bytes: Buffer }
  | { ok: false; reason: 'not-allowed' | 'unreachable' | 'too-large'; detail: string };

/** Whether a host name is this machine's loopback. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6)
    return host === '::1' || host === '::ffff:7f00:1' || /^::ffff:127\./.test(host);
  return false;
}

/** Where the URL form may fetch from. */
export interface FetchScope {
  /** Hosts (`host` or `host:port`) on the allow-list. */
  allowList: readonly string[];
  /** This emulator's port: its own test images are always allowed. */
  selfPort: number;
}

const TEST_IMAGES_PATH = '/__emulator/test-images/';

/**
 * Whether the JSON URL form may fetch `url`: this emulator's own test images (a query string
 * allowed, as a presigned URL has one: the test-image route reads the path only), or a host (or
 * `host:port`) on the allow-list. Any other loopback URL is refused: a page could otherwise use
 * the emulator to probe local services.
 */
export function isFetchAllowed(url: URL, scope: FetchScope): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (url.username || url.password) return false;
  const self =
    url.protocol === 'http:' &&
    isLoopbackHost(url.hostname) &&
    Number(url.port) === scope.selfPort &&
    url.pathname.startsWith(TEST_IMAGES_PATH);
  if (self) return true;
  const allowList = scope.allowList;
  const host = url.host.toLowerCase();
  const hostname = url.hostname.toLowerCase();
  return allowList.some((entry) => {
    const allowed = entry.toLowerCase();
    return allowed === host || allowed === hostname;
  });
}

/**
 * Downloads an image for the URL form, reading at most `maxBytes` bytes. Redirects are not
 * followed (a redirect could lead off the allow-list).
 */
export async function fetchImage(
  url: URL,
  scope: FetchScope,
  maxBytes: number,
  signal: AbortSignal,
): Promise<FetchOutcome> {
  if (!isFetchAllowed(url, scope)) {
    return {
      ok: false,
      reason: 'not-allowed',
      detail: `${url.host} is not on the allow-list (nor this emulator's test images)`,
    };
  }
  const outcome = await download(url.href, {
    maxBytes,
    timeoutMs: FETCH_TIMEOUT_MS,
    maxRedirects: 0,
    signal,
  });
  if (outcome.ok) return { ok: true, bytes: outcome.bytes };
  const reason = outcome.reason === 'too-large' ? 'too-large' : 'unreachable';
  return { ok: false, reason, detail: outcome.detail };
}
