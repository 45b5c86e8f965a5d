/**
 * The console next to a real guard, as `guard.console(...)` will wire it: the guard's store,
 * its events (`events: guard`) and a queue depth. A matched upload under policy 'quarantine'
 * shows up in the console's list and on its live stream, which carries no file name or bytes.
 * Also: the Express 4 and Koa 2 mounts.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import express4 from 'express4';
import Koa2 from 'koa2';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { TOKEN } from './helpers.js';

const tempDir = useTempDirs();
const consoles: Console[] = [];
afterEach(async () => {
  await Promise.all(consoles.splice(0).map((c) => c.close()));
});

async function loginCookie(server: Parameters<typeof request>[0], base: string) {
  const res = await request(server).post(`${base}/api/login`).send({ token: TOKEN }).expect(200);
  return String(res.headers['set-cookie']?.[0]).split(';')[0] as string;
}

describe('the console with a real guard', () => {
  it('lists a quarantined upload and streams its scan and match without the file name', async () => {
    const dir = await tempDir();
    const bad = png(200, 200, 9);
    const sha = createHash('sha256').update(bad).digest('hex');
    const guard = photodnaGuard({
      matcher: new RecordingMatcher([sha]),
      policy: 'quarantine',
      quarantine: { dir },
    });
    const reviewConsole = createConsole({ dir, token: TOKEN, events: guard, queueDepth: () => 0 });
    consoles.push(reviewConsole);
    const app = express();
    app.use('/console', reviewConsole.express());
    app.post('/upload', guard.single('image'), (_req, res) => {
      res.json({ ok: true });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const cookie = await loginCookie(server, '/console');
      const live = await fetch(`${base}/console/api/live`, { headers: { cookie } });
      expect(live.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const reader = (live.body as ReadableStream<Uint8Array>).getReader();
      let streamed = '';
      const readUntil = async (pattern: RegExp) => {
        while (!pattern.test(streamed)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream ended: ${streamed}`);
          streamed += Buffer.from(value).toString('utf8');
        }
      };
      await readUntil(/event: hello/);

      await request(server)
        .post('/upload')
        .attach('image', bad, 'very-revealing-name.png')
        .expect(422);
      await readUntil(/event: match\n/);
      await readUntil(/event: quarantine\n/);
      expect(streamed).toMatch(/event: scan\ndata: \{[^\n]*"outcome":"match"/);
      expect(streamed).not.toContain('very-revealing-name');
      expect(streamed).not.toContain(bad.toString('base64').slice(0, 32));
      await reader.cancel();

      const list = await request(server)
        .get('/console/api/incidents')
        .set('Cookie', cookie)
        .expect(200);
      expect(list.body.total).toBe(1);
      expect(list.body.items[0]).toMatchObject({
        sha256: sha,
        route: '/upload',
        policy: 'quarantine',
      });
      expect(list.text).not.toContain('very-revealing-name');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await guard.close();
    }
  });
});

describe('Express 4 and Koa 2 mounts', () => {
  it('serve the console under their mount path', async () => {
    const dir = await tempDir();
    const reviewConsole = createConsole({ dir, token: TOKEN });
    consoles.push(reviewConsole);
    const app4 = express4();
    app4.use('/mod', reviewConsole.express());
    await request(app4).get('/mod').expect(308).expect('Location', '/mod/');
    await request(app4).get('/mod/').expect(200).expect('X-Frame-Options', 'DENY');
    const c4 = await loginCookie(app4, '/mod');
    await request(app4).get('/mod/api/incidents').set('Cookie', c4).expect(200);

    const koa = new Koa2();
    koa.use(reviewConsole.koa('/mod/'));
    const server = koa.callback();
    await request(server)
      .get('/mod/app.js')
      .expect(200)
      .expect('Content-Type', /javascript/);
    const c2 = await loginCookie(server, '/mod');
    await request(server).get('/mod/api/incidents').set('Cookie', c2).expect(200);
  });
});

describe('guard.console()', () => {
  it('Express: reviews the guard own store, refuses to start open or without a store', async () => {
    const dir = await tempDir();
    const bad = png(200, 200, 11);
    const sha = createHash('sha256').update(bad).digest('hex');
    const guard = photodnaGuard({
      matcher: new RecordingMatcher([sha]),
      policy: 'quarantine',
      quarantine: { dir },
    });
    try {
      expect(() => guard.console({} as never)).toThrow(/refusing to start an open console/);
      const app = express();
      app.use('/console', guard.console({ token: TOKEN }));
      app.post('/upload', guard.single('image'), (_req, res) => {
        res.json({ ok: true });
      });
      await request(app).get('/console/api/incidents').expect(401);
      await request(app).post('/upload').attach('image', bad, 'x.png').expect(422);
      const cookie = await loginCookie(app, '/console');
      const list = await request(app)
        .get('/console/api/incidents')
        .set('Cookie', cookie)
        .expect(200);
      expect(list.body.total).toBe(1);
      expect(list.body.items[0]).toMatchObject({ sha256: sha, policy: 'quarantine' });
    } finally {
      await guard.close();
    }
    const storeless = photodnaGuard({ matcher: new RecordingMatcher([]) });
    expect(() => storeless.console({ token: TOKEN })).toThrow(/'quarantine' option/);
    await storeless.close();
  });

  it('Koa: serves the console at its path (default /console)', async () => {
    const { photodnaGuard: koaGuard } = await import('../../src/koa.js');
    const dir = await tempDir();
    const guard = koaGuard({
      matcher: new RecordingMatcher([]),
      policy: 'quarantine',
      quarantine: { dir },
    });
    try {
      const koa = new Koa2();
      koa.use(guard.console({ token: TOKEN }));
      const server = koa.callback();
      await request(server).get('/console/api/incidents').expect(401);
      const cookie = await loginCookie(server, '/console');
      const list = await request(server)
        .get('/console/api/incidents')
        .set('Cookie', cookie)
        .expect(200);
      expect(list.body.total).toBe(0);
    } finally {
      await guard.close();
    }
  });
});
