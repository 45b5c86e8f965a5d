/**
 * The console's HTTP API through real servers (Express, Koa and a bare Node server): refused
 * without authorization, security headers, CSRF on every action, filtering and paging, the
 * three actions with their audit entries and the PDQ allow-list, and never an image byte.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { connect, createServer as createHttp2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { PhotoDnaClient } from '../../src/client/index.js';
import { type Console, createConsole } from '../../src/console/index.js';
import { startEmulator } from '../../src/emulator/index.js';
import { GuardEvents } from '../../src/events.js';
import { until } from '../helpers/until.js';
import { makeIncident, useTempDirs } from '../quarantine/helpers.js';
import { PDQ, seededStore, TOKEN } from './helpers.js';

const tempDir = useTempDirs();
const consoles: Console[] = [];
afterEach(async () => {
  await Promise.all(consoles.splice(0).map((c) => c.close()));
});

const REPORTER = {
  orgName: 'Example Forum',
  reporterName: 'Trust and Safety',
  reporterEmail: 'tns@example.com',
  ncmecUser: 'esp-user',
  ncmecPassword: 'esp-secret-pw',
  isTest: true,
};

async function setup(extra: Partial<Parameters<typeof createConsole>[0]> = {}) {
  const dir = await tempDir();
  const seeded = await seededStore(dir);
  const console = createConsole({ store: seeded.store, token: TOKEN, ...extra });
  consoles.push(console);
  const app = express();
  app.use(express.json()); // a host body parser in front must not break the console
  app.use('/console', console.express());
  return { dir, app, console, ...seeded };
}

/** Logs in with the token; returns the cookie and the CSRF token. */
async function login(app: express.Express) {
  const res = await request(app)
    .post('/console/api/login')
    .set('Origin', 'http://127.0.0.1')
    .set('Host', '127.0.0.1')
    .send({ token: TOKEN })
    .expect(200);
  const cookie = String(res.headers['set-cookie']?.[0] ?? '').split(';')[0] as string;
  return { cookie, csrf: res.body.csrf as string };
}

function post(app: express.Express, path: string, auth: { cookie: string; csrf: string }) {
  return request(app)
    .post(`/console/api/${path}`)
    .set('Host', '127.0.0.1')
    .set('Origin', 'http://127.0.0.1')
    .set('Cookie', auth.cookie)
    .set('X-CSRF-Token', auth.csrf);
}

describe('no open console', () => {
  it('refuses to start without authorize or token, or with a short token', async () => {
    const dir = await tempDir();
    expect(() => createConsole({ dir })).toThrow(/refusing to start an open console/);
    expect(() => createConsole({ dir, token: 'short' })).toThrow(/at least 16/);
    expect(() => createConsole({ dir, token: TOKEN, authorize: () => 'x' })).toThrow(/not both/);
  });

  it('answers 401 without a session, and refuses a wrong token', async () => {
    const { app } = await setup();
    const session = await request(app).get('/console/api/session').expect(401);
    expect(session.body).toEqual({ error: 'log in with the console token', login: 'token' });
    await request(app).get('/console/api/incidents').expect(401);
    await request(app)
      .post('/console/api/login')
      .send({ token: `${TOKEN}x` })
      .expect(401);
  });

  it('answers 429 with Retry-After after ten failed logins from one address in a minute, even to the right token', async () => {
    const { app } = await setup();
    for (let i = 0; i < 10; i++) {
      await request(app)
        .post('/console/api/login')
        .send({ token: `guess-${i}-xxxxxxxxxxxx` })
        .expect(401);
    }
    const locked = await request(app).post('/console/api/login').send({ token: TOKEN }).expect(429);
    expect(locked.body).toEqual({ error: 'too many failed logins: wait a minute' });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('counts concurrent logins too: of 30 guesses from one address whose bodies arrive after every check, ten are judged', async () => {
    const { console: consoleApp } = await setup();
    const server = createServer((req, res) => void consoleApp.handle(req, res, '/console'));
    // Registered after the console: its synchronous part (the throttle check) has run by then.
    let seen = 0;
    server.on('request', () => {
      seen += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let release: () => void = () => {};
    const bodies = new Promise<void>((resolve) => {
      release = resolve;
    });
    /** One login whose headers go at once and whose body waits for `bodies`. */
    const attempt = (token: string) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ token });
        const req = httpRequest(
          {
            agent: false,
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/console/api/login',
            headers: { 'content-type': 'application/json', 'content-length': body.length },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.flushHeaders();
        void bodies.then(() => req.end(body));
      });
    try {
      const tries = [
        ...Array.from({ length: 29 }, (_, i) => attempt(`guess-${i}-xxxxxxxxxxxx`)),
        attempt(TOKEN),
      ];
      // Every request's throttle check has run before any body goes.
      await until(() => seen === 30, 'all 30 logins checked');
      release();
      const codes = await Promise.all(tries);
      expect(codes.filter((c) => c === 401)).toHaveLength(10);
      expect(codes.filter((c) => c === 429)).toHaveLength(20);
      expect(codes.at(-1)).toBe(429); // the right token among them: too late this minute
    } finally {
      release();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('with authorize: the host decides on every request', async () => {
    const dir = await tempDir();
    const { store } = await seededStore(dir);
    const console = createConsole({
      store,
      authorize: (req) => (req.headers['x-user'] === 'alice' ? 'alice' : false),
    });
    consoles.push(console);
    const server = createServer((req, res) => void console.handle(req, res));
    const denied = await request(server).get('/api/session').expect(401);
    expect(denied.body.login).toBe('authorize');
    const ok = await request(server).get('/api/session').set('X-User', 'alice').expect(200);
    expect(ok.body.actor).toBe('alice');
    const cookie = String(ok.headers['set-cookie']?.[0]).split(';')[0] as string;
    await request(server).get('/api/incidents').set('Cookie', cookie).expect(401); // no longer authorized
    await request(server)
      .get('/api/incidents')
      .set('Cookie', cookie)
      .set('X-User', 'alice')
      .expect(200);
    await request(server).post('/api/login').send({ token: TOKEN }).expect(404);
  });
});

describe('headers and CSRF', () => {
  it('sends the strict headers on the page, assets and API answers', async () => {
    const { app } = await setup();
    await request(app).get('/console').expect(308).expect('Location', '/console/');
    for (const path of [
      '/console/',
      '/console/app.js',
      '/console/console.css',
      '/console/api/session',
    ]) {
      const res = await request(app).get(path);
      expect(res.headers['content-security-policy'], path).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const page = await request(app).get('/console/').expect(200);
    expect(page.text).not.toMatch(/<script>|<script [^>]*>[^<]|\sstyle=|<style|<img|\son[a-z]+=/i);
    expect(page.text).toContain('Images are never shown here');
  });

  it('sets an HttpOnly SameSite=Strict cookie scoped to the mount path', async () => {
    const { app } = await setup();
    const res = await request(app).post('/console/api/login').send({ token: TOKEN }).expect(200);
    expect(res.headers['set-cookie']?.[0]).toMatch(
      /^pdg_console=[\w-]+; Path=\/console\/; HttpOnly; SameSite=Strict$/,
    );
  });

  it('marks the cookie Secure behind a TLS proxy the framework trusts, not on a client header alone', async () => {
    const dir = await tempDir();
    const console = createConsole({ dir, token: TOKEN });
    consoles.push(console);
    const cookieOf = async (server: Parameters<typeof request>[0], path: string) =>
      String(
        (
          await request(server)
            .post(path)
            .set('X-Forwarded-Proto', 'https')
            .send({ token: TOKEN })
            .expect(200)
        ).headers['set-cookie']?.[0],
      );
    const trusting = express();
    trusting.set('trust proxy', 'loopback');
    trusting.use('/console', console.express());
    expect(await cookieOf(trusting, '/console/api/login')).toMatch(/; Secure$/);
    const koa = new Koa({ proxy: true });
    koa.use(console.koa('/console'));
    expect(await cookieOf(koa.callback(), '/console/api/login')).toMatch(/; Secure$/);
    // Without the host's trust in a proxy, anyone can send the header: it counts for nothing.
    const direct = express();
    direct.use('/console', console.express());
    expect(await cookieOf(direct, '/console/api/login')).not.toMatch(/Secure/);
  });

  it("keeps a mount path's ';' from adding attributes to the cookie", async () => {
    const dir = await tempDir();
    const console = createConsole({ dir, token: TOKEN });
    consoles.push(console);
    const app = express();
    app.use('/:tenant/console', console.express());
    const res = await request(app)
      .post('/acme;Domain=example.com;Max-Age=999999999/console/api/login')
      .send({ token: TOKEN })
      .expect(200);
    const attributes = String(res.headers['set-cookie']?.[0])
      .split(';')
      .slice(1)
      .map((part) => part.trim().split('=')[0]);
    expect(attributes).toEqual(['Path', 'HttpOnly', 'SameSite']);
  });

  it('refuses every action without the CSRF token, from another origin, or as a form', async () => {
    const { app, fresh } = await setup();
    const auth = await login(app);
    const path = `incidents/${fresh.id}/release`;
    await post(app, path, { ...auth, csrf: 'wrong' })
      .send({ reason: 'x' })
      .expect(403);
    await request(app)
      .post(`/console/api/${path}`)
      .set('Cookie', auth.cookie)
      .send({ reason: 'x' })
      .expect(403);
    await post(app, path, auth)
      .set('Origin', 'https://evil.example')
      .send({ reason: 'x' })
      .expect(403);
    await post(app, path, auth)
      .set('Sec-Fetch-Site', 'cross-site')
      .send({ reason: 'x' })
      .expect(403);
    await post(app, path, auth).type('form').send('reason=x').expect(415);
    await post(app, 'logout', { ...auth, csrf: 'nope' })
      .send({})
      .expect(403);
    expect(
      (await request(app).get(`/console/api/incidents/${fresh.id}`).set('Cookie', auth.cookie)).body
        .incident.released,
    ).toBeNull();
  });
  it('over HTTP/2 (no Host header, :authority instead), takes a same-origin login and refuses a foreign one', async () => {
    const h2 = await http2Console();
    try {
      expect((await h2.login(h2.origin)).status).toBe(200);
      expect((await h2.login('https://evil.example')).status).toBe(403);
    } finally {
      await h2.close();
    }
  });

  it('over HTTP/2, opens the live stream without a connection-specific header (Node would warn and drop it)', async () => {
    const h2 = await http2Console();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const { cookie } = await h2.login(h2.origin);
      // The first event ('hello') arrives after the headers were set and flushed: a warning
      // about them (emitted on the next tick) has been emitted by then.
      const { status, first } = await new Promise<{ status: number; first: string }>(
        (resolve, reject) => {
          const stream = h2.client.request({ ':method': 'GET', ':path': '/api/live', cookie });
          let status = 0;
          stream.on('response', (headers) => {
            status = Number(headers[':status']);
          });
          stream.setEncoding('utf8');
          stream.once('data', (chunk: string) => {
            resolve({ status, first: chunk });
            stream.close();
          });
          stream.on('error', reject);
          stream.end();
        },
      );
      expect(status).toBe(200);
      expect(first).toContain('event: hello');
      expect(warnings.filter((w) => w.startsWith('UnsupportedWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await h2.close();
    }
  });
});

/** A token console (with a live feed) on a cleartext HTTP/2 server, and a client session to it. */
async function http2Console() {
  const dir = await tempDir();
  const console = createConsole({ dir, token: TOKEN, events: new GuardEvents() });
  consoles.push(console);
  const server = createHttp2Server((req, res) => {
    void console.handle(req as never, res as never);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = connect(origin);
  /** A token login sent with `Origin: from`: its status and session cookie. */
  const login = (from: string) =>
    new Promise<{ status: number; cookie: string }>((resolve, reject) => {
      const stream = client.request({
        ':method': 'POST',
        ':path': '/api/login',
        'content-type': 'application/json',
        origin: from,
      });
      stream.on('response', (headers) =>
        resolve({
          status: Number(headers[':status']),
          cookie: String(headers['set-cookie']?.[0] ?? '').split(';')[0] as string,
        }),
      );
      stream.on('error', reject);
      stream.resume();
      stream.end(JSON.stringify({ token: TOKEN }));
    });
  const close = async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  };
  return { origin, client, login, close };
}

describe('incidents', () => {
  it("lists newest first with the reviewer's fields, filters and pages; never bytes", async () => {
    const { app, fresh, old, withPdq, bytes } = await setup({ pageSize: 2 });
    const auth = await login(app);
    const get = (query: string) =>
      request(app).get(`/console/api/incidents${query}`).set('Cookie', auth.cookie).expect(200);
    const first = await get('');
    expect(first.body).toMatchObject({ total: 3, page: 1, pages: 2, pageSize: 2 });
    expect(first.body.items.map((item: { id: string }) => item.id)).toEqual([fresh.id, withPdq.id]);
    expect((await get('?page=2')).body.items.map((item: { id: string }) => item.id)).toEqual([
      old.id,
    ]);
    const item = first.body.items[0];
    expect(item).toMatchObject({
      route: '/avatar',
      ip: '203.0.113.7',
      userAgent: 'test-agent/1.0',
      sha256: fresh.file.sha256,
      matchFlags: [{ source: 'Test', violations: ['A1'], matchDistance: 179, matchId: '104149' }],
      reportStatus: 'not-reported',
      purgeAllowed: false,
    });
    expect(item.originalname).toBeUndefined();
    expect((await get('?status=reported')).body.items.map((i: { id: string }) => i.id)).toEqual([
      old.id,
    ]);
    expect((await get('?status=open')).body.total).toBe(2);
    expect((await get('?source=ncmec')).body.items.map((i: { id: string }) => i.id)).toEqual([
      old.id,
    ]);
    expect((await get('?from=2019-12-31&to=2020-01-01')).body.total).toBe(1);
    expect((await get('?status=bogus&page=-3')).body).toMatchObject({ total: 3, page: 1 });

    const detail = await request(app)
      .get(`/console/api/incidents/${withPdq.id}`)
      .set('Cookie', auth.cookie)
      .expect(200);
    expect(detail.body.incident.pdq).toBe(PDQ);
    await request(app)
      .get('/console/api/incidents/..%2F..%2Fetc')
      .set('Cookie', auth.cookie)
      .expect(404);
    await request(app).get('/console/api/incidents/nope').set('Cookie', auth.cookie).expect(404);

    // No image bytes, in any encoding, in any answer.
    const answers = [first.text, (await get('?page=2')).text, detail.text];
    for (const text of answers) {
      for (const image of bytes) {
        expect(text).not.toContain(image.toString('base64').slice(0, 40));
        expect(text).not.toContain(image.toString('hex').slice(0, 40));
      }
      expect(text).not.toMatch(/holiday\.png|\.png"|"bytes"|"buffer"|data:image/);
    }
  });
});

describe('a malformed record in the store', () => {
  it('is skipped by the list (its flags unreadable), and the other incidents are listed', async () => {
    const { app, dir, fresh } = await setup();
    const good = JSON.parse(await readFile(join(dir, `${fresh.id}.json`), 'utf8'));
    const id = 'hostile-record-1';
    // Every field the store checks but the flags' lists, which the list view reads.
    await writeFile(
      join(dir, `${id}.json`),
      JSON.stringify({ ...good, id, matchFlags: [{ source: 'X' }] }),
      { mode: 0o600 },
    );
    const auth = await login(app);
    const list = await request(app)
      .get('/console/api/incidents')
      .set('Cookie', auth.cookie)
      .expect(200);
    expect(list.body.total).toBe(3);
    expect(list.body.items.map((i: { id: string }) => i.id)).not.toContain(id);
  });
});

describe('uploader-controlled text', () => {
  it('reaches the page with bidi overrides, invisible and control characters escaped', async () => {
    const { app, store } = await setup();
    const { incident, bytes } = makeIncident(
      { route: '/u/evil\u202egnp.exe', userAgent: 'agent\u200b/1\nforged' },
      4,
    );
    incident.file = { ...incident.file, field: 'pho\u2066to' };
    await store.put(incident, bytes);
    const auth = await login(app);
    const detail = await request(app)
      .get(`/console/api/incidents/${incident.id}`)
      .set('Cookie', auth.cookie)
      .expect(200);
    expect(detail.body.incident).toMatchObject({
      route: String.raw`/u/evil\u202egnp.exe`,
      userAgent: String.raw`agent\u200b/1\u000aforged`,
      field: String.raw`pho\u2066to`,
    });
    expect(detail.text).not.toMatch(/[\u202e\u2066\u200b]/);
  });
});

describe('actions', () => {
  it('release needs a reason, is audited, and allow-lists a PDQ hash', async () => {
    const allowList = join(await tempDir(), 'allow.txt');
    const { app, console, fresh, withPdq } = await setup({ allowList: { path: allowList } });
    const auth = await login(app);
    await post(app, `incidents/${fresh.id}/release`, auth).send({ reason: '  ' }).expect(400);
    const released = await post(app, `incidents/${withPdq.id}/release`, auth)
      .send({ reason: 'false positive: a cat' })
      .expect(200);
    expect(released.body.incident.released.reason).toBe('false positive: a cat');
    expect(await readFile(allowList, 'utf8')).toBe(`pdq ${PDQ}\n`);
    await post(app, `incidents/${fresh.id}/release`, auth)
      .send({ reason: 'no pdq here' })
      .expect(200);
    expect(await readFile(allowList, 'utf8')).toBe(`pdq ${PDQ}\n`);

    const entries = await console.audit.read();
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      actor: 'token holder',
      action: 'release',
      incident: withPdq.id,
      ok: true,
      before: { released: null, report: 'not-reported' },
      after: { released: { reason: 'false positive: a cat' } },
      detail: `reason: false positive: a cat; allow-listed pdq ${PDQ}`,
    });
    expect(await console.audit.verify()).toMatchObject({ ok: true, entries: 2 });
    // A released incident is not reported afterwards (before reporting is even asked about).
    const refused = await post(app, `incidents/${withPdq.id}/report`, auth).send({}).expect(409);
    expect(refused.body.error).toMatch(/released as a false positive/);
    // A refused action is audited too (before, the refusal left no entry).
    const [, , refusal] = await console.audit.read();
    expect(refusal).toMatchObject({
      actor: 'token holder',
      action: 'report',
      incident: withPdq.id,
      ok: false,
      before: { report: 'not-reported', released: { reason: 'false positive: a cat' } },
      after: { report: 'not-reported' },
      detail: expect.stringMatching(/released as a false positive/),
    });
    expect(await console.audit.verify()).toMatchObject({ ok: true, entries: 3 });
  });

  it('a malformed escape in an incident id is a 404, not a 500', async () => {
    const { app } = await setup();
    const auth = await login(app);
    await request(app).get('/console/api/incidents/%E0').set('Cookie', auth.cookie).expect(404);
    await post(app, 'incidents/%E0/release', auth).send({ reason: 'x' }).expect(404);
  });

  it('purge: an early purge is refused (409, audited); an expired reported one is removed', async () => {
    const { app, console, store, fresh, old } = await setup();
    const auth = await login(app);
    const early = await post(app, `incidents/${fresh.id}/purge`, auth).send({}).expect(409);
    expect(early.body.error).toMatch(/purge refused: preserved until/);
    await store.getRecord(fresh.id); // still there
    await post(app, `incidents/${old.id}/purge`, auth).send({}).expect(200);
    await expect(store.getRecord(old.id)).rejects.toThrow(/unknown incident/);
    const entries = await console.audit.read();
    expect(entries.map((e) => [e.action, e.incident, e.ok])).toEqual([
      ['purge', fresh.id, false],
      ['purge', old.id, true],
    ]);
    expect(entries[1]?.after).toBeNull();
  });

  it("report reaches the emulator (test endpoint) with the server's credentials; unconfigured is 503", async () => {
    const emulator = await startEmulator({ port: 0 });
    try {
      const { app: bare, fresh: f1 } = await setup({ apiKey: 'k', reporter: { orgName: 'x' } });
      const a1 = await login(bare);
      const refused = await post(bare, `incidents/${f1.id}/report`, a1).send({}).expect(503);
      expect(refused.body.error).toMatch(/missing: .*reporterName/);

      const { app, console, fresh } = await setup({
        apiKey: 'test-key',
        baseUrl: emulator.url,
        reporter: REPORTER,
      });
      const auth = await login(app);
      const session = await request(app).get('/console/api/session').set('Cookie', auth.cookie);
      expect(session.body.reporting).toEqual({ configured: true, isTest: true, missing: [] });
      expect(JSON.stringify(session.body)).not.toContain('esp-secret-pw');
      const res = await post(app, `incidents/${fresh.id}/report`, auth).send({}).expect(200);
      expect(emulator.testReports).toHaveLength(1);
      expect(emulator.testReports[0]?.ncmecUser).toBe('esp-user');
      expect(res.body.incident).toMatchObject({ reportStatus: 'reported', reportIsTest: true });
      expect(res.text).not.toContain('esp-secret-pw');
      const [entry] = await console.audit.read();
      expect(entry).toMatchObject({
        action: 'report',
        ok: true,
        after: { report: 'reported', isTest: true },
      });
      expect(entry?.detail).toMatch(/test endpoint/);
      // Asked again, even with `force`: the first result, nothing filed twice.
      const again = await post(app, `incidents/${fresh.id}/report`, auth)
        .send({ force: true })
        .expect(200);
      expect(again.body.incident.report.trackingId).toBe(res.body.incident.report.trackingId);
      expect(res.body.incident.report.trackingId).toEqual(expect.any(String));
      expect(emulator.testReports).toHaveLength(1);
      // A test-endpoint report files nothing with NCMEC: the incident is still open.
      const open = await request(app)
        .get('/console/api/incidents?status=open')
        .set('Cookie', auth.cookie)
        .expect(200);
      expect(open.body.items.map((i: { id: string }) => i.id)).toContain(fresh.id);
    } finally {
      await emulator.close();
    }
  });

  it('reporter fields past what the Report endpoint accepts: refused at start, and at report time nothing is sent', async () => {
    expect(() =>
      createConsole({
        dir: '/nonexistent',
        token: TOKEN,
        reporter: { ...REPORTER, reporteeName: 'r'.repeat(1_001) },
      }),
    ).toThrow(
      expect.objectContaining({
        name: 'InvalidOptionsError',
        paths: ['reporter.reporteeName'],
        message: expect.stringContaining('is 1,001 characters, over the 1,000'),
      }),
    );
    const emulator = await startEmulator({ port: 0 });
    try {
      const reporter: typeof REPORTER & { additionalInfo?: string } = { ...REPORTER };
      const { app, fresh } = await setup({ apiKey: 'test-key', baseUrl: emulator.url, reporter });
      const auth = await login(app);
      reporter.additionalInfo = 'a'.repeat(10_001); // the host's configuration changed since
      const refused = await post(app, `incidents/${fresh.id}/report`, auth).send({}).expect(503);
      expect(refused.body.error).toMatch(
        /reporter\.additionalInfo is 10,001 characters, over the 10,000/,
      );
      expect(refused.text).not.toContain('aaaaaaaaaa');
      expect(emulator.calls.filter((call) => call.operation === 'report')).toHaveLength(0);
    } finally {
      await emulator.close();
    }
  });
});

describe('an action asked for twice at once (a double click the page did not stop)', () => {
  it('files one report (both answers carry its tracking id) and purges once (the second refused)', async () => {
    const emulator = await startEmulator({ port: 0 });
    try {
      const { app, console, store, fresh, old } = await setup({
        apiKey: 'test-key',
        baseUrl: emulator.url,
        reporter: REPORTER,
      });
      const auth = await login(app);
      emulator.setLatency(300); // the second arrives while the first waits for NCMEC
      const reports = await Promise.all(
        [1, 2].map(() =>
          post(app, `incidents/${fresh.id}/report`, auth)
            .send({})
            .then((res) => res),
        ),
      );
      expect(reports.map((res) => res.status)).toEqual([200, 200]);
      expect(emulator.testReports).toHaveLength(1);
      const [first, second] = reports.map((res) => res.body.incident.report.trackingId);
      expect(first).toEqual(expect.any(String));
      expect(second).toBe(first);
      expect((await store.getRecord(fresh.id)).report.status).toBe('reported');

      const purges = await Promise.all(
        [1, 2].map(() =>
          post(app, `incidents/${old.id}/purge`, auth)
            .send({})
            .then((res) => res),
        ),
      );
      expect(purges.map((res) => res.status).sort()).toEqual([200, expect.any(Number)]);
      const refused = purges.find((res) => res.status !== 200);
      expect([404, 409]).toContain(refused?.status);
      await expect(store.getRecord(old.id)).rejects.toThrow(/unknown incident/);
      const purged = (await console.audit.read()).filter((e) => e.action === 'purge' && e.ok);
      expect(purged).toHaveLength(1);
    } finally {
      await emulator.close();
    }
  });
});

describe('closing the console', () => {
  it('close() waits for a report in flight to be recorded and audited; actions asked for afterwards are 503', async () => {
    const emulator = await startEmulator({ port: 0 });
    try {
      const { app, console, store, fresh, old } = await setup({
        apiKey: 'test-key',
        baseUrl: emulator.url,
        reporter: REPORTER,
      });
      const auth = await login(app);
      // NCMEC has the report as soon as it arrives; its answer comes later.
      emulator.setLatency(500);
      const response = post(app, `incidents/${fresh.id}/report`, auth)
        .send({})
        .then((res) => res);
      await until(() => emulator.testReports.length === 1, 'the report to arrive');
      await console.close();
      // Before: close() resolved once the client was closed, the record and audit entry still
      // being written (a CLI exits two seconds later: NCMEC got a report the record never noted).
      const record = await store.getRecord(fresh.id);
      expect(record.report).toMatchObject({ status: 'reported', isTest: true });
      expect(record.reporting).toBeUndefined();
      expect(await console.audit.read()).toMatchObject([{ action: 'report', ok: true }]);
      expect((await response).status).toBe(200);
      const late = await post(app, `incidents/${old.id}/release`, auth)
        .send({ reason: 'late' })
        .expect(503);
      expect(late.body.error).toBe('the console is shutting down');
      expect((await store.getRecord(old.id)).released).toBeUndefined();
    } finally {
      await emulator.close();
    }
  });
});

describe('Koa and the audit endpoint', () => {
  it('serves under a Koa prefix and passes other paths on', async () => {
    const dir = await tempDir();
    const { store } = await seededStore(dir);
    const console = createConsole({ store, token: TOKEN });
    consoles.push(console);
    const app = new Koa();
    app.use(console.koa('/review'));
    app.use((ctx) => {
      ctx.body = 'host';
    });
    const server = app.callback();
    await request(server).get('/elsewhere').expect(200, 'host');
    await request(server).get('/review').expect(308).expect('Location', '/review/');
    const page = await request(server).get('/review/').expect(200);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const login = await request(server)
      .post('/review/api/login')
      .send({ token: TOKEN })
      .expect(200);
    const cookie = String(login.headers['set-cookie']?.[0]).split(';')[0] as string;
    const audit = await request(server).get('/review/api/audit').set('Cookie', cookie).expect(200);
    expect(audit.body).toEqual({
      verification: { ok: true, entries: 0, head: '0'.repeat(64) },
      entries: [],
    });
  });
});

describe('a report whose outcome is unknown (it timed out once sent)', () => {
  it('is said in the answer and the incident; the next Report is refused (409) unless the moderator confirms a resend', async () => {
    const emulator = await startEmulator({ port: 0 });
    const sender = new PhotoDnaClient({
      apiKey: 'test-key',
      baseUrl: emulator.url,
      timeouts: { callMs: 300 },
    });
    try {
      const { app, console, store, fresh } = await setup({ sender, reporter: REPORTER });
      const auth = await login(app);
      emulator.setLatency(5_000);
      const failed = await post(app, `incidents/${fresh.id}/report`, auth).send({}).expect(502);
      emulator.setLatency(0);
      expect(emulator.testReports).toHaveLength(1); // NCMEC has it
      expect(failed.body.error).toMatch(/callMs.*may have reached NCMEC/);
      const detail = await request(app)
        .get(`/console/api/incidents/${fresh.id}`)
        .set('Cookie', auth.cookie)
        .expect(200);
      expect(detail.body.incident).toMatchObject({
        reportStatus: 'failed',
        reportOutcomeUnknown: expect.stringMatching(/got no answer/),
        report: { status: 'failed', outcomeUnknown: true },
      });

      // Before: a second Report filed it again, the page warning of nothing.
      const refused = await post(app, `incidents/${fresh.id}/report`, auth).send({}).expect(409);
      expect(refused.body.error).toMatch(/may have reached NCMEC already.*Ask NCMEC first/);
      expect(emulator.testReports).toHaveLength(1);
      expect((await console.audit.read()).at(-1)).toMatchObject({ action: 'report', ok: false });

      const resent = await post(app, `incidents/${fresh.id}/report`, auth)
        .send({ resend: true })
        .expect(200);
      expect(emulator.testReports).toHaveLength(2);
      expect(resent.body.incident).toMatchObject({
        reportStatus: 'reported',
        reportOutcomeUnknown: null,
      });
      expect(JSON.stringify([failed.body, refused.body, resent.body])).not.toContain(
        REPORTER.ncmecPassword,
      );
      expect((await store.getRecord(fresh.id)).report.status).toBe('reported');
    } finally {
      await sender.close();
      await emulator.close();
    }
  });

  it('an expired claim (its reporter crashed, perhaps after sending) is shown, and refused the same way', async () => {
    const emulator = await startEmulator({ port: 0 });
    try {
      const { app, store, fresh } = await setup({
        apiKey: 'test-key',
        baseUrl: emulator.url,
        reporter: REPORTER,
      });
      const claimedUntil = new Date(Date.now() + 50).toISOString();
      await store.claimReport(fresh.id, { token: 'crashed', until: claimedUntil });
      const auth = await login(app);
      let shown = { reportOutcomeUnknown: null as string | null };
      await until(async () => {
        const res = await request(app)
          .get(`/console/api/incidents/${fresh.id}`)
          .set('Cookie', auth.cookie)
          .expect(200);
        shown = res.body.incident;
        return shown.reportOutcomeUnknown !== null;
      }, 'the claim to run out');
      expect(shown.reportOutcomeUnknown).toMatch(/never recorded an outcome/);
      await post(app, `incidents/${fresh.id}/report`, auth).send({}).expect(409);
      expect(emulator.testReports).toHaveLength(0);
      await post(app, `incidents/${fresh.id}/report`, auth).send({ resend: true }).expect(200);
      expect(emulator.testReports).toHaveLength(1);
    } finally {
      await emulator.close();
    }
  });
});
