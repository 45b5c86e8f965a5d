import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

/** Longest forwarding header kept as received (a header is at most 16 KiB in Node). */
export const MAX_CHAIN_CHARS = 512;

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

/**
 * Longest zone id kept on an IPv6 address (`fe80::1%eth0`): an interface name (15 characters on
 * Linux) or index. `net.isIP` takes any name after the `%`, so a forwarded address would otherwise
 * carry whatever the uploader wrote into events, records and job data.
 */
const MAX_ZONE_CHARS = 15;

/** The address as an IP address, or undefined for anything else (a client-written string). */
export function validIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (isIP(trimmed) === 0) return undefined;
  const zone = trimmed.indexOf('%');
  return zone === -1 || trimmed.length - zone - 1 <= MAX_ZONE_CHARS ? trimmed : undefined;
}

/**
 * An address as a report states it: a valid IP with no zone id (`fe80::1%eth0` names an interface
 * of the server, meaningless to the recipient) and an IPv4 client as IPv4 (a dual-stack server
 * records `::ffff:198.51.100.4`, in dotted or hex form; NCMEC and abuse desks search the IPv4
 * address). Undefined for anything that is not an IP. Events and records keep the address as
 * recorded: it is evidence.
 */
export function reportableIp(value: string | undefined): string | undefined {
  const ip = validIp(value);
  if (ip === undefined || isIP(ip) !== 6) return ip;
  const zone = ip.indexOf('%');
  const unzoned = zone === -1 ? ip : ip.slice(0, zone);
  // The URL parser writes every IPv6 form in one canonical form, an IPv4-mapped one as
  // `[::ffff:xxxx:xxxx]`.
  let canonical: string;
  try {
    canonical = new URL(`http://[${unzoned}]`).hostname;
  } catch {
    return unzoned;
  }
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(canonical);
  if (!mapped) return unzoned;
  const high = Number.parseInt(mapped[1] as string, 16);
  const low = Number.parseInt(mapped[2] as string, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * The block of addresses one client controls, as a key: an IPv4 address as it is, an IPv6
 * address as its /64 (`2001:db8:0:1::/64`). A single host is routinely given a whole /64 and
 * picks any address in it, so a budget per IPv6 address would be one per request. An IPv4-mapped
 * address is its IPv4 address (a dual-stack server sees both forms of one client). Anything that
 * is not an IP address is returned as it is.
 */
export function addressBlock(value: string): string {
  const ip = reportableIp(value);
  if (ip === undefined || isIP(ip) !== 6) return ip ?? value;
  // Canonical (lowercase, hex groups only, longest zero run as `::`), then expanded to 8 groups.
  const canonical = new URL(`http://[${ip}]`).hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => '0');
  return `${[...left, ...zeros, ...right].slice(0, 4).join(':')}::/64`;
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
  return joined.slice(0, MAX_CHAIN_CHARS);
}
