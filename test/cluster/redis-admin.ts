import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type RedisServer, startRedisServer } from './redis-server.js';

/**
 * A throwaway `redis-server` for the suite it is called in: started before the suite's tests
 * (its other `beforeAll` hooks, registered after this call, see it started), stopped after them
 * (after the suite's own `afterAll` hooks: they run in reverse order). The returned server
 * forwards to the one started; reading it before then throws.
 */
export function useRedisServer(): RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
  }, 30_000);
  afterAll(async () => {
    await server?.close();
  });
  const started = (): RedisServer => {
    if (!server) throw new Error('the Redis server is not started yet');
    return server;
  };
  return {
    get url() {
      return started().url;
    },
    get port() {
      return started().port;
    },
    get running() {
      return started().running;
    },
    kill: () => started().kill(),
    start: () => started().start(),
    freeze: () => started().freeze(),
    thaw: () => started().thaw(),
    close: () => started().close(),
  };
}

/** A throwaway Redis for the suite it is called in, and a client to look into it and change it. */
export interface RedisWithAdmin {
  readonly server: RedisServer;
  readonly admin: Redis;
}

/** Starts one `redis-server` (and an admin client) before the suite's tests, stops both after. */
export function useRedisWithAdmin(): RedisWithAdmin {
  const server = useRedisServer();
  let admin: Redis | undefined;
  beforeAll(() => {
    admin = new Redis(server.url);
  });
  afterAll(() => {
    admin?.disconnect();
  });
  return {
    server,
    get admin() {
      if (!admin) throw new Error('the Redis server is not started yet');
      return admin;
    },
  };
}
