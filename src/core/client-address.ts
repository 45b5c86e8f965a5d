import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

/** Longest forwarding header kept as received (a header is at most 16 KiB in Node). */
const MAX_CHAIN_CHARS = 512;

/**
 * Where an upload came from, as evidence: the TCP peer (always true, but a proxy's address
 * behind one), the forwarding headers exactly as received (the client can write them), and the
 * address the host's trust settings derive (Express `trust proxy`, Koa `app.proxy` +
 * `maxIpsCount`), kept only when it is an IP address.
 */
export interface ClientNetwork {
  /** The socket's remote address. */
  peer: string;
  /** `X-Forwarded-For` as received (truncated to 512 characters), when present. */
  forwardedFor?: string;
  /** `Forwarded` (RFC 7239) as received (truncated to 512 characters), when present. */
  forwarded?: string;
  /** The framework's address (`req.ip` / `ctx.ip`), when it is a valid IP address. */
  derived?: string;
}

/** The address as an IP address, or undefined for anything else (a client-written string). */
export function validIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return isIP(trimmed) !== 0 ? trimmed : undefined;
}

/** The network facts of one request; `derived` comes from the framework's trust settings. */
export function clientNetwork(
  headers: IncomingHttpHeaders,
  peer: string | undefined,
  derived: string,
): ClientNetwork {
  const forwardedFor = chain(headers['x-forwarded-for']);
  const forwarded = chain(headers.forwarded);
  const ip = validIp(derived);
  return {
    peer: validIp(peer) ?? '',
    ...(forwardedFor === undefined ? {} : { forwardedFor }),
    ...(forwarded === undefined ? {} : { forwarded }),
    ...(ip === undefined ? {} : { derived: ip }),
  };
}

/** The address to report and log: the derived one when valid, else the peer (or ''). */
export function uploaderIp(network: ClientNetwork): string {
  return network.derived ?? network.peer;
}

function chain(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(', ') : value;
  return joined.length > MAX_CHAIN_CHARS ? joined.slice(0, MAX_CHAIN_CHARS) : joined;
}
