import { z } from 'zod';
import { MAX_CHAIN_CHARS } from '../core/client-address.js';
import { MAX_USER_AGENT_CHARS } from '../core/request-context.js';

/**
 * What `enqueue` accepts as a job's `uploader` (`ScanJobInput.uploader`): one schema for every
 * engine. The worker carries it into the `match` event, the quarantine record and from there an
 * NCMEC report, so every field is checked at enqueue, and a refusal names the field, never its
 * value. A field of the right kind is cut to its bound, never refused for its length: the guard's
 * own enqueue passes what the request brought, and a refusal there answers a deferred upload 503
 * (under failMode 'open', passes it on with no job queued). The client writes most of it: the
 * path, the user agent, the forwarding headers, the method (a Web `Request` may carry any token),
 * the address behind a trusted proxy (`fe80::1%` and a zone id of any length is an IP address); the
 * host's route pattern may be a list of paths or a long RegExp.
 */

/** Longest `route` kept (a request path). */
export const MAX_ROUTE_CHARS = 2_048;
/** Longest `routePattern` kept (a metrics label: a list of paths or a RegExp can be long). */
export const MAX_ROUTE_PATTERN_CHARS = 1_024;
/** Longest address kept (`ip`, `network.peer`, `network.derived`): an IPv6 one with a zone id. */
export const MAX_IP_CHARS = 64;
/** Longest `method` kept. */
export const MAX_METHOD_CHARS = 32;

/** An HTTP method: a token (RFC 9110). */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** An ISO 8601 date-time with its time zone: what `new Date().toISOString()` writes, and more. */
const ISO_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

const A_STRING = 'must be a string';

/** Cuts a string to `max` characters. */
const cutTo = (max: number) => (s: string) => s.slice(0, max);

/** A string cut to `max` characters. */
const cut = (max: number) => z.string({ error: A_STRING }).transform(cutTo(max));

const networkSchema = z.strictObject(
  {
    peer: cut(MAX_IP_CHARS),
    forwardedFor: cut(MAX_CHAIN_CHARS).optional(),
    forwarded: cut(MAX_CHAIN_CHARS).optional(),
    derived: cut(MAX_IP_CHARS).optional(),
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
    routePattern: cut(MAX_ROUTE_PATTERN_CHARS).optional(),
    method: z
      .string({ error: A_STRING })
      .regex(METHOD, { error: 'must be an HTTP method (a token)' })
      .transform(cutTo(MAX_METHOD_CHARS))
      .optional(),
    ip: cut(MAX_IP_CHARS).optional(),
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
