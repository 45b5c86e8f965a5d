import { z } from 'zod';
import { MAX_CHAIN_CHARS } from '../core/client-address.js';
import { MAX_USER_AGENT_CHARS } from '../core/request-context.js';

/**
 * What `enqueue` accepts as a job's `uploader` (`ScanJobInput.uploader`): one schema for every
 * engine. The worker carries it into the `match` event, the quarantine record and from there an
 * NCMEC report, so every field is checked at enqueue, and a refusal names the field, never its
 * value. What a client writes (the path, the user agent, the forwarding headers) is cut to a
 * bound rather than refused: the guard's own enqueue of an upload with a 10 KiB `User-Agent`
 * must not fail. What the host writes (the method, the addresses, the route pattern) is refused
 * past its bound.
 */

/** Longest `route` kept (a request path, as long as the client made it: cut, not refused). */
export const MAX_ROUTE_CHARS = 2_048;
/** Longest `routePattern` (the host's own route: refused past it). */
export const MAX_ROUTE_PATTERN_CHARS = 1_024;
/** Longest address (`ip`, `network.peer`, `network.derived`): an IPv6 one with its zone id fits. */
export const MAX_IP_CHARS = 64;

/** An HTTP method: a token (RFC 9110), at most 32 characters. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** An ISO 8601 date-time with its time zone: what `new Date().toISOString()` writes, and more. */
const ISO_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

const A_STRING = 'must be a string';

/** A string cut to `max` characters. */
const cut = (max: number) =>
  z.string({ error: A_STRING }).transform((s) => (s.length > max ? s.slice(0, max) : s));

/** A string of at most `max` characters, refused past it. */
const bounded = (max: number) =>
  z.string({ error: A_STRING }).max(max, { error: `must be at most ${max} characters` });

const networkSchema = z.strictObject(
  {
    peer: bounded(MAX_IP_CHARS),
    forwardedFor: cut(MAX_CHAIN_CHARS).optional(),
    forwarded: cut(MAX_CHAIN_CHARS).optional(),
    derived: bounded(MAX_IP_CHARS).optional(),
  },
  { error: 'must be an object { peer, forwardedFor?, forwarded?, derived? }' },
);

const RECEIVED_AT =
  'must be an ISO 8601 date-time with its time zone (new Date().toISOString()) or a valid Date';

const receivedAtSchema = z
  .union([z.string(), z.date()], { error: RECEIVED_AT })
  .refine(
    (value) =>
      value instanceof Date
        ? !Number.isNaN(value.getTime())
        : ISO_DATE_TIME.test(value) &&
          isCalendarDate(value) &&
          !Number.isNaN(new Date(value).getTime()),
    { error: RECEIVED_AT },
  )
  // Stored as ISO (UTC): the worker builds the match's evidence from it, and a time it cannot
  // read would fail every attempt in the quarantine store.
  .transform((value) => new Date(value).toISOString());

export const uploaderSchema = z.strictObject(
  {
    route: cut(MAX_ROUTE_CHARS)
      .refine((s) => s !== '', { error: 'must not be empty' })
      .optional(),
    routePattern: bounded(MAX_ROUTE_PATTERN_CHARS).optional(),
    method: z
      .string({ error: A_STRING })
      .regex(METHOD, { error: 'must be an HTTP method (a token of at most 32 characters)' })
      .optional(),
    ip: bounded(MAX_IP_CHARS).optional(),
    network: networkSchema.optional(),
    userAgent: cut(MAX_USER_AGENT_CHARS).optional(),
    receivedAt: receivedAtSchema.nullish(),
  },
  { error: 'must be an object' },
);

export type CheckedUploader = z.output<typeof uploaderSchema>;

/**
 * A job's `uploader` checked (`uploaderSchema`), or a `TypeError` naming each bad field and what
 * it must be (never its value: it may be huge, or evidence).
 */
export function checkUploader(value: unknown): CheckedUploader {
  const result = uploaderSchema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = ['uploader', ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => (key.length > 40 ? `${key.slice(0, 40)}…` : key));
      return `${path} has unknown keys (${keys.join(', ')})`;
    }
    return `${path} ${issue.message}`;
  });
  throw new TypeError(problems.join('; '));
}

/** Whether an ISO date-time's date exists (`2025-02-30` does not; `Date` would roll it over). */
function isCalendarDate(value: string): boolean {
  const [year = 0, month = 0, day = 0] = value.slice(0, 10).split('-').map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
