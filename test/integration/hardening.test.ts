import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { crafted } from '../fixtures/crafted.js';
import { type Adapter, adapters, type Running } from '../helpers/adapters.js';
import { RecordingMatcher } from '../helpers/matchers.js';

/**
 * Issue 11: each test is named after the class of attack it keeps closed, and runs on every
 * adapter (Express 4/5, Koa 2/3).
 */
describe.each(adapters)('$name', (adapter: Adapter) => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });
  async function start(options: Parameters<Adapter['start']>[0]) {
    const server = await adapter.start(options, [{ path: '/upload' }], { global: true });
    running.push(server);
    return server;
  }

  it.each(Object.entries(crafted))(
    'bounded validation: a crafted 4 MiB %s is 422 INVALID_IMAGE and never reaches the matcher',
    async (name, make) => {
      const matcher = new RecordingMatcher();
      const server = await start({ matcher });
      const res = await request(server.url).post('/upload').attach('f', make(), `a.${name}`);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(server.log.runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    },
  );
});
