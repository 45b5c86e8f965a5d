import { once } from 'node:events';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/hono.js';
import type { RejectEvent } from '../../src/index.js';
import { RecordingMatcher } from '../helpers/matchers.js';

/**
 * The Hono guard reads its route's pattern with `hono/route`'s `routePath` (4.8+), imported
 * where this module runs as ESM. A CommonJS app's `require('hono')` is another copy of Hono,
 * whose contexts that helper cannot read: the pattern still comes from the context itself.
 */
const requireCjs = createRequire(import.meta.url);
const copies: Array<[string, typeof Hono]> = [
  ['import', Hono],
  ['require() (a second copy of Hono)', (requireCjs('hono') as { Hono: typeof Hono }).Hono],
];

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('Hono routePattern', () => {
  for (const [loaded, HonoClass] of copies) {
    it(`names the route's pattern on a Hono loaded with ${loaded}`, async () => {
      expect(HonoClass === Hono).toBe(loaded === 'import');
      const guard = photodnaGuard({ matcher: new RecordingMatcher() });
      const rejects: RejectEvent[] = [];
      guard.on('reject', (event) => rejects.push(event));
      const app = new HonoClass();
      app.post('/users/:id', guard.any(), (c) => c.json({}));
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
      closers.push(async () => {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
        await guard.close();
      });
      if (!server.listening) await once(server, 'listening');
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await request(url)
        .post('/users/7')
        .attach('image', Buffer.from('not an image'), 'c.png')
        .expect(415);
      expect(rejects.map((r) => r.routePattern)).toEqual(['/users/:id']);
    });
  }
});
