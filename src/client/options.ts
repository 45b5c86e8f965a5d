import { z } from 'zod';
import { InvalidOptionsError } from '../errors.js';
import type { Logger } from '../types.js';
import {
  isRedisClient,
  isRedisUrl,
  REDIS_URL_EXPECTED,
  type RedisClientLike,
} from './redis-connection.js';

/** The public base URL of the PhotoDNA Cloud Service. */
export const DEFAULT_BASE_URL = 'https://api.microsoftmoderator.com';

/** The most calls per second one client may be set to (`rateLimit.perSecond`). */
export const MAX_CALLS_PER_SECOND = 1000;

const MIB = 1024 * 1024;
const ms = (max: number) => z.int().min(1).max(max);

/** A pino-compatible logger (the client's and the guard's `logger` option). */
export const loggerSchema = z.custom<Logger>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    ['debug', 'info', 'warn', 'error'].every(
      (name) => typeof (value as Record<string, unknown>)[name] === 'function',
    ),
  { message: 'Expected a pino-compatible logger with debug, info, warn and error methods' },
);

/**
 * The subscription key, trimmed (a key read from a file keeps its newline). A blank one is told
 * apart from a missing one: "Required" would send a user who did set it looking in the wrong
 * place. Shared with the guard's `apiKey` option. No message echoes the value.
 */
export const apiKeySchema = z
  .string({
    error: (issue) =>
      issue.input === undefined
        ? 'Required: pass apiKey or set PHOTODNA_API_KEY'
        : 'Expected the PhotoDNA subscription key as a string',
  })
  .trim()
  .min(1, {
    error:
      'empty or only whitespace: give your PhotoDNA subscription key (apiKey, or PHOTODNA_API_KEY when apiKey is left out)',
  });

/**
 * Why a base URL that parses is still refused, or undefined. Requests go to its origin and path
 * only, so a user name, password or query string (`?subscription-key=...`) would be dropped
 * without a word, while the user believes they authenticate and keeps a secret in config.
 * PhotoDNA takes the key in a header. The reason never quotes the URL. Shared with the guard's
 * `baseUrl` option.
 */
export function baseUrlRefusal(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // not a URL: the schema says so
  }
  const dropped =
    parsed.username !== '' || parsed.password !== ''
      ? 'a user name or password'
      : parsed.search !== ''
        ? 'a query string'
        : undefined;
  return dropped === undefined
    ? undefined
    : `must not carry ${dropped}: it is never sent. PhotoDNA authenticates with apiKey (the Ocp-Apim-Subscription-Key header, or PHOTODNA_API_KEY); give the URL without it`;
}

/** Adds `baseUrlRefusal`'s reason, if any, as an issue of the string being checked. */
export function refuseDroppedUrlParts(ctx: z.core.$RefinementCtx<string>, url: string): void {
  const reason = baseUrlRefusal(url);
  if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason, input: undefined });
}

/** The one source of truth for `PhotoDnaClient` options (see `PhotoDnaClientOptions`). */
export const clientOptionsSchema = z
  .strictObject({
    apiKey: apiKeySchema,
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'Expected an http(s) URL' })
      .superRefine((url, ctx) => refuseDroppedUrlParts(ctx, url)),
    apiVersion: z.enum(['v1', 'v2']).default('v2'),
    enhance: z.boolean().default(false),
    evaluation: z.enum(['always', 'afterinitialquota']).optional(),
    rateLimit: z
      .strictObject({
        /** Calls that may start in any one-second window (every attempt counts). Defaults to 5 on v2, 10 on v1. */
        perSecond: z.int().min(1).max(MAX_CALLS_PER_SECOND).optional(),
        /** Callers that may wait for a call; one more fails at once with `SCAN_BUSY`. Defaults to 100. */
        maxQueue: z.int().min(1).max(100_000).default(100),
        /** An ioredis client or a `redis://` URL for one limit across processes. Defaults to none (per process). */
        redis: z
          .union([
            z.string().refine(isRedisUrl, { error: REDIS_URL_EXPECTED }),
            z.custom<RedisClientLike>(isRedisClient, {
              error: 'Expected an ioredis client (Redis or Cluster) or a redis:// URL',
            }),
          ])
          .optional(),
      })
      .prefault({}),
    timeouts: z
      .strictObject({
        /** Connecting (TCP and TLS), in ms. Defaults to 5000. */
        connectMs: ms(120_000).default(5_000),
        /** Waiting for the answer's headers once the request is sent, in ms. Defaults to 10000. */
        headersMs: ms(300_000).default(10_000),
        /** Longest silence while the answer's body arrives, in ms. Defaults to 10000. */
        bodyMs: ms(300_000).default(10_000),
        /** The whole of one attempt, connect to last byte, in ms. Defaults to 15000. */
        callMs: ms(600_000).default(15_000),
      })
      .prefault({}),
    retry: z
      .strictObject({
        /** Attempts per operation, the first included. Defaults to 4. */
        maxAttempts: z.int().min(1).max(20).default(4),
        /** Backoff base in ms: attempt n waits a random time below `baseDelayMs * 2^(n-1)`. Defaults to 200. */
        baseDelayMs: z.int().min(0).max(60_000).default(200),
        /** Cap of one backoff wait in ms (a longer `Retry-After` is still honoured). Defaults to 5000. */
        maxDelayMs: z.int().min(0).max(600_000).default(5_000),
        /** No retry starts when it would end after this many ms since the operation began. Defaults to 30000. */
        budgetMs: ms(3_600_000).default(30_000),
      })
      .prefault({}),
    maxResponseBytes: z
      .int()
      .min(1024)
      .max(64 * MIB)
      .default(MIB),
    connections: z.int().min(1).max(256).default(10),
    logger: loggerSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.retry.maxDelayMs < value.retry.baseDelayMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'maxDelayMs'],
        message: 'Must be at least retry.baseDelayMs',
      });
    }
  });

type ParsedOptions = z.output<typeof clientOptionsSchema>;

/** Options of `new PhotoDnaClient(options)`. Unknown keys are rejected. */
export interface PhotoDnaClientOptions {
  /** The subscription key (`Ocp-Apim-Subscription-Key`). Defaults to env `PHOTODNA_API_KEY`; required. */
  apiKey?: string;
  /**
   * The service's base URL (a path prefix is kept; a user name, password or query string is
   * refused: requests never carry them, the key goes in `apiKey`). Defaults to env `PHOTODNA_BASE_URL`, else
   * `https://api.microsoftmoderator.com`.
   */
  baseUrl?: string;
  /** `'v2'` posts to `/v2/PhotoDNA/Match`, `'v1'` to `/photodna/v1.0/Match`. Defaults to `'v2'`. */
  apiVersion?: 'v1' | 'v2';
  /** Sent as the `enhance` query parameter of Match. Defaults to `false`. */
  enhance?: boolean;
  /** Sent as the `Enable-Evaluation` header when set. Defaults to none. */
  evaluation?: 'always' | 'afterinitialquota';
  rateLimit?: {
    /**
     * Calls that may start in any one-second window (every attempt counts). Defaults to `5` for
     * v2 and `10` for v1.
     */
    perSecond?: number;
    /** Callers that may wait for a slot; one more fails at once with `SCAN_BUSY`. Defaults to `100`. */
    maxQueue?: number;
    /**
     * A cluster-wide limit: an ioredis client (`Redis` or `Cluster`, used as is and not closed by
     * `close()`) or a `redis://` / `rediss://` URL (the client connects on first use, needs the
     * optional dependency `ioredis`, and disconnects in `close()`). Every client with the same
     * subscription key and Redis then stays under `perSecond` in total. Defaults to none (the
     * limit is per client).
     */
    redis?: string | RedisClientLike;
  };
  timeouts?: {
    /** Connecting (TCP and TLS). Defaults to `5000` ms. */
    connectMs?: number;
    /**
     * Waiting for the answer's headers once the request is sent (undici checks it on a clock of
     * about one second; `callMs` is exact). Defaults to `10000` ms.
     */
    headersMs?: number;
    /** Longest silence while the answer's body arrives. Defaults to `10000` ms. */
    bodyMs?: number;
    /** The whole of one attempt, connect to last byte. Defaults to `15000` ms. */
    callMs?: number;
  };
  retry?: {
    /** Attempts per operation, the first included. Defaults to `4`. */
    maxAttempts?: number;
    /** Backoff base: attempt n waits a random time below `baseDelayMs * 2^(n-1)`. Defaults to `200` ms. */
    baseDelayMs?: number;
    /** Cap of one backoff wait (a longer `Retry-After` is still honoured). Defaults to `5000` ms. */
    maxDelayMs?: number;
    /** No retry starts when it would end after this long since the operation began. Defaults to `30000` ms. */
    budgetMs?: number;
  };
  /** Largest answer body read; a larger one is a `malformed-response` error. Defaults to `1048576` (1 MiB). */
  maxResponseBytes?: number;
  /** Connections in the pool (also the most calls in flight). Defaults to `10`. */
  connections?: number;
  /** A pino-compatible logger; never given image bytes, keys or passwords. Defaults to silent. */
  logger?: Logger;
}

/** Compile-time check that the interface above and the schema accept the same input. */
type SchemaInput = Omit<z.input<typeof clientOptionsSchema>, 'apiKey' | 'baseUrl'> & {
  apiKey?: string;
  baseUrl?: string;
};
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const optionsAgree: Same<Required<PhotoDnaClientOptions>, Required<SchemaInput>> = true;
void optionsAgree;

/** Client options after validation, defaults and environment variables. */
export interface ResolvedClientOptions {
  apiKey: string;
  /** `protocol://host:port` of `baseUrl`, for the connection pool. */
  origin: string;
  /** The path of `baseUrl` without a trailing slash (`''` for the real service). */
  pathPrefix: string;
  apiVersion: 'v1' | 'v2';
  enhance: boolean;
  evaluation: 'always' | 'afterinitialquota' | undefined;
  rateLimit: { perSecond: number; maxQueue: number; redis: string | RedisClientLike | undefined };
  timeouts: ParsedOptions['timeouts'];
  retry: ParsedOptions['retry'];
  maxResponseBytes: number;
  connections: number;
  logger: Logger | undefined;
}

/**
 * Validates client options once, filling `apiKey` and `baseUrl` from `PHOTODNA_API_KEY` and
 * `PHOTODNA_BASE_URL` when they are not given. Throws `InvalidOptionsError` naming every bad path.
 */
export function resolveClientOptions(
  options: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedClientOptions {
  const input = options ?? {};
  const fromEnv =
    typeof input === 'object' &&
    (input as { baseUrl?: unknown }).baseUrl === undefined &&
    env.PHOTODNA_BASE_URL !== undefined;
  const withEnv =
    typeof input === 'object' && !Array.isArray(input)
      ? {
          ...input,
          apiKey: (input as { apiKey?: unknown }).apiKey ?? env.PHOTODNA_API_KEY,
          baseUrl:
            (input as { baseUrl?: unknown }).baseUrl ?? env.PHOTODNA_BASE_URL ?? DEFAULT_BASE_URL,
        }
      : input;
  const parsed = clientOptionsSchema.safeParse(withEnv);
  if (!parsed.success) throw toInvalidOptionsError(parsed.error, fromEnv);
  const value = parsed.data;
  const url = new URL(value.baseUrl);
  return {
    apiKey: value.apiKey,
    origin: url.origin,
    pathPrefix: url.pathname.replace(/\/+$/, ''),
    apiVersion: value.apiVersion,
    enhance: value.enhance,
    evaluation: value.evaluation,
    rateLimit: {
      perSecond: value.rateLimit.perSecond ?? (value.apiVersion === 'v1' ? 10 : 5),
      maxQueue: value.rateLimit.maxQueue,
      redis: value.rateLimit.redis,
    },
    timeouts: value.timeouts,
    retry: value.retry,
    maxResponseBytes: value.maxResponseBytes,
    connections: value.connections,
    logger: value.logger,
  };
}

/** `baseUrlFromEnv`: a bad `baseUrl` came from PHOTODNA_BASE_URL, which the message then names. */
function toInvalidOptionsError(error: z.ZodError, baseUrlFromEnv: boolean): InvalidOptionsError {
  const paths: string[] = [];
  const lines = error.issues.map((issue) => {
    const path = formatPath(issue.path);
    if (!paths.includes(path)) paths.push(path);
    const source = baseUrlFromEnv && path === 'baseUrl' ? ' (from PHOTODNA_BASE_URL)' : '';
    return `${path}${source}: ${issue.message}`;
  });
  return new InvalidOptionsError(
    `Invalid PhotoDnaClient options: ${lines.join('; ')}`,
    paths,
    error,
  );
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(options)';
  return path
    .map((part, i) =>
      typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`,
    )
    .join('');
}
