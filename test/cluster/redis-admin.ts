import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** A throwaway Redis for the suite it is called in, and a client to look into it and change it. */
export interface RedisWithAdmin {
  readonly server: RedisServer;
  readonly admin: Redis;
}

/** Starts one `redis-server` (and an admin client) before the suite's tests, stops both after. */
export function useRedisWithAdmin(): RedisWithAdmin {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  }, 30_000);
  afterAll(async () => {
    admin?.disconnect();
    await server?.close();
  });
  return {
    get server() {
      if (!server) throw new Error('the Redis server is not started yet');
      return server;
    },
    get admin() {
      if (!admin) throw new Error('the Redis server is not started yet');
      return admin;
    },
  };
}
