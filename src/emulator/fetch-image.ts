import { isIP } from 'node:net';

/** How long the URL form may take to download its image. */
const FETCH_TIMEOUT_MS = 10_000;

export type FetchOutcome =
  | { ok: true; bytes: Buffer }
  | { ok: false; reason: 'not-allowed' | 'unreachable' | 'too-large'; detail: string };

/** Loopback hosts are always fetchable: the emulator never needs a network. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6)
    return host === '::1' || host === '::ffff:7f00:1' || /^::ffff:127\./.test(host);
  return false;
}

/** Whether the JSON URL form may fetch `url`: loopback, or a host (or `host:port`) on the list. */
export function isFetchAllowed(url: URL, allowList: readonly string[]): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (url.username || url.password) return false;
  if (isLoopbackHost(url.hostname)) return true;
  const host = url.host.toLowerCase();
  const hostname = url.hostname.toLowerCase();
  return allowList.some((entry) => {
    const allowed = entry.toLowerCase();
    return allowed === host || allowed === hostname;
  });
}

/**
 * Downloads an image for the URL form, reading at most `maxBytes + 1` bytes. Redirects are not
 * followed (a redirect could lead off the allow-list).
 */
export async function fetchImage(
  url: URL,
  allowList: readonly string[],
  maxBytes: number,
  signal: AbortSignal,
): Promise<FetchOutcome> {
  if (!isFetchAllowed(url, allowList)) {
    return {
      ok: false,
      reason: 'not-allowed',
      detail: `host ${url.host} is not loopback or allow-listed`,
    };
  }
  try {
    const response = await fetch(url, {
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
    });
    if (response.status !== 200 || !response.body) {
      await response.body?.cancel();
      return {
        ok: false,
        reason: 'unreachable',
        detail: `the image URL answered ${response.status}`,
      };
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > maxBytes) {
        await response.body.cancel().catch(() => undefined);
        return {
          ok: false,
          reason: 'too-large',
          detail: `the image is larger than ${maxBytes} bytes`,
        };
      }
      chunks.push(chunk);
    }
    return { ok: true, bytes: Buffer.concat(chunks, size) };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      reason: 'unreachable',
      detail: `the image could not be downloaded: ${detail}`,
    };
  }
}
