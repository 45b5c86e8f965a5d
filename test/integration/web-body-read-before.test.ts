import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard as fetchGuard } from '../../src/fetch.js';
import { photodnaGuard as honoGuard, type PhotoDnaEnv } from '../../src/hono.js';
import type { ErrorEvent, RejectEvent } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

/**
 * A Web `Request` whose multipart body something read before the guard (Hono's
 * `c.req.parseBody()` in an earlier middleware, `request.formData()` before `check()`): nothing
 * can be checked, so the request fails closed as a configuration failure: 503
 * `SCAN_UNAVAILABLE`, an `error` event (stage `scan`, reason `not-configured`) before the
 * `reject`, and the handler never runs. Not a TypeError out of the guard.
 */

const emu = useEmulator({ rateLimit: false });
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

async function listen(fetch: (request: Request) => Response | Promise<Response>) {
  const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  servers.push(server);
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

type Seen = Array<['error', ErrorEvent] | ['reject', RejectEvent]>;

function expectRefused(res: request.Response, events: Seen, runs: number): void {
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
  expect(res.headers['retry-after']).toMatch(/^\d+$/); // SPEC 3.3: 503 + Retry-After
  expect(runs).toBe(0);
  expect(events.map(([name]) => name)).toEqual(['error', 'reject']);
  const error = events[0]?.[1] as ErrorEvent;
  expect(error).toMatchObject({ stage: 'scan', reason: 'not-configured' });
  expect(error.error.message).toMatch(/read before the guard/);
}

describe('a multipart body read before the guard', () => {
  it('Hono: parseBody() in an earlier middleware', async () => {
    const guard = honoGuard(emu.options());
    const events: Seen = [];
    guard.on('error', (e) => void events.push(['error', e]));
    guard.on('reject', (e) => void events.push(['reject', e]));
    let runs = 0;
    const app = new Hono<PhotoDnaEnv>();
    app.use(async (c, next) => {
      await c.req.parseBody();
      await next();
    });
    app.use(guard);
    app.post('/upload', (c) => {
      runs += 1;
      return c.json({ ok: true });
    });
    const url = await listen(app.fetch);
    const res = await request(url).post('/upload').attach('f', knownImage(), 'k.png');
    expectRefused(res, events, runs);
    // A body the guard reads itself still passes.
    const fresh = new Hono<PhotoDnaEnv>();
    fresh.use(guard);
    fresh.post('/upload', (c) => c.json({ status: c.get('photodna')?.status }));
    const ok = await request(await listen(fresh.fetch))
      .post('/upload')
      .attach('f', png(200, 200, 7_301), 'a.png');
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe('clean');
    await guard.close();
  });

  it('fetch: request.formData() before guard.check(request)', async () => {
    const guard = fetchGuard(emu.options());
    const events: Seen = [];
    guard.on('error', (e) => void events.push(['error', e]));
    guard.on('reject', (e) => void events.push(['reject', e]));
    let runs = 0;
    const url = await listen(async (req) => {
      await req.formData();
      const result = await guard.check(req);
      if (result.response) return result.response;
      runs += 1;
      return new Response('ok');
    });
    const res = await request(url).post('/upload').attach('f', knownImage(), 'k.png');
    expectRefused(res, events, runs);
    await guard.close();
  });
});
