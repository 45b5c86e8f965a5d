import type { Logger } from '../types.js';
import { notConfiguredError, rateLimiterDownError } from './failures.js';

/**
 * The Redis connection behind `rateLimit.redis`: the caller's own ioredis instance (used as is,
 * never closed here), or a `redis://` / `rediss://` URL, for which ioredis is imported lazily (so
 * that installations without Redis never load it) and one connection is opened on first use and
 * closed by `close()`.
 */

/**
 * What the shared rate limiter needs from a Redis client: `eval` and `evalsha` as ioredis
 * (`Redis` or `Cluster`) has them. The options accept any such object.
 */
export interface RedisClientLike {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  evalsha(sha1: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

export function isRedisClient(value: unknown): value is RedisClientLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisClientLike).eval === 'function' &&
    typeof (value as RedisClientLike).evalsha === 'function'
  );
}

const REDIS_URL = /^rediss?:\/\//i;

/** Why a string is not taken as a Redis URL (never the string itself: it may hold a password). */
export const REDIS_URL_EXPECTED =
  'Expected a redis:// or rediss:// URL, its path (if any) a database number: redis://host:6379/0';

/**
 * Whether `url` is a `redis://` or `rediss://` URL ioredis reads as written: a path other than a
 * database number (`/abc`) would make ioredis send `SELECT NaN` and fail on every connection.
 */
export function isRedisUrl(url: string): boolean {
  if (!REDIS_URL.test(url)) return false;
  try {
    return /^\/?\d*$/.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

/** A client on demand, and the means to close it when it is ours. */
export interface RedisHandle {
  /** The connected client; rejects (with `rate-limiter-down` or `not-configured`) when it cannot be had. */
  client(): Promise<RedisClientLike>;
  close(): Promise<void>;
}

/** The ioredis instance this module creates for a URL (only the members used here). */
interface OwnedRedis extends RedisClientLike {
  status: string;
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

type RedisConstructor = new (url: string, options: Record<string, unknown>) => OwnedRedis;

/** Longest wait for the first connection of an owned client, in ms. */
const CONNECT_TIMEOUT_MS = 1_000;

export function openRedis(option: string | RedisClientLike, logger: Logger): RedisHandle {
  if (typeof option !== 'string') {
    return { client: async () => option, close: async () => {} };
  }
  let owned: Promise<OwnedRedis> | undefined;
  let firstConnect: Promise<void> | undefined;
  let closed = false;
  const create = async (): Promise<OwnedRedis> => {
    const Redis = await loadIoredis();
    const redis = new Redis(option, {
      lazyConnect: true,
      // Fail at once while disconnected (the limiter then fails fast) instead of queueing commands.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Reconnect forever, backing off to one attempt a second, so the limiter recovers by itself.
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
    });
    let reported = false;
    redis.on('error', (error) => {
      if (reported) return;
      reported = true;
      // The URL may hold a password: only the error's code and message are logged.
      logger.warn(
        { err: { name: error.name, message: error.message } },
        'photodna-guard: lost the Redis connection of the shared rate limiter; reconnecting',
      );
    });
    redis.on('ready', () => {
      if (reported) logger.info({}, 'photodna-guard: the shared rate limiter reconnected to Redis');
      reported = false;
    });
    return redis;
  };
  return {
    async client() {
      if (closed) throw rateLimiterDownError('the client is closed');
      owned ??= create();
      const redis = await owned;
      // First use (lazyConnect): connect now, bounded by connectTimeout; later reconnects are
      // ioredis's job (retryStrategy), and commands fail at once while it is disconnected.
      if (redis.status === 'wait') firstConnect ??= redis.connect();
      await firstConnect?.catch((error: unknown) => {
        if (redis.status !== 'ready') throw rateLimiterDownError('could not connect', error);
      });
      return redis;
    },
    async close() {
      closed = true;
      const redis = await owned?.catch(() => undefined);
      if (!redis) return;
      if (redis.status === 'ready') {
        await Promise.race([
          redis.quit().catch(() => undefined),
          new Promise((resolve) => setTimeout(resolve, CONNECT_TIMEOUT_MS).unref()),
        ]);
      }
      redis.disconnect();
    },
  };
}

async function loadIoredis(): Promise<RedisConstructor> {
  try {
    const module = (await import('ioredis')) as unknown as {
      Redis?: RedisConstructor;
      default?: RedisConstructor;
    };
    const Redis = module.Redis ?? module.default;
    if (typeof Redis !== 'function') throw new TypeError('ioredis exports no Redis class');
    return Redis;
  } catch (error) {
    throw notConfiguredError(
      "rateLimit.redis is a URL, but the optional dependency 'ioredis' (5.x) could not be loaded: npm install ioredis",
      error,
    );
  }
}
