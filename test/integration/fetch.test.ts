/**
 * What only the Web `Request` guard and the Hono middleware have: the rebuilt `FormData` (sniffed
 * types, withheld matches absent), a bounded read of an endless body, abort through
 * `request.signal`, other bodies left readable, and Hono's `c.req.formData()` / `parseBody()`.
 * The common cases run over HTTP in the shared suite.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { type CheckPassed, CLIENT_GONE_STATUS, photodnaGuard } from '../../src/fetch.js';
import { photodnaGuard as honoGuard, type PhotoDnaEnv } from '../../src/hono.js';
import { png } from '../fixtures/images.js';
import { knownImage } from '../helpers/emulated.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { multipartBody } from '../helpers/raw-upload.js';

const KNOWN = knownImage();
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function guardWith(matcher = new RecordingMatcher(), extra = {}) {
  const guard = photodnaGuard({ matcher, ...extra });
  closers.push(() => guard.close());
  return guard;
}

function upload(form: FormData, init: RequestInit = {}): Request {
  return new Request('http://localhost/upload', { method: 'POST', body: form, ...init });
}

describe('guard.check(request)', () => {
  it('a multipart Content-Type with no body is 400 MALFORMED_MULTIPART, never a 500 or "no files"', async () => {
    const guard = guardWith();
    const request = new Request('http://localhost/upload', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
    });
    const { response } = await guard.check(request);
    expect(response?.status).toBe(400);
    const body = (await (response as Response).json()) as { error: { code: string } };
    expect(body.error.code).toBe('MALFORMED_MULTIPART');
  });

  it('rebuilds the form: text fields, Files of the sniffed type; a flagged match is absent', async () => {
    const guard = guardWith(new RecordingMatcher([sha(KNOWN)]), { policy: 'flag' });
    const form = new FormData();
    form.append('title', 'holiday');
    form.append('clean', new File([png()], 'clean.txt', { type: 'text/plain' }));
    form.append('bad', new File([KNOWN], 'bad.png', { type: 'image/png' }));
    const result = (await guard.check(upload(form))) as CheckPassed;
    expect(result.response).toBeUndefined();
    expect(result.photodna?.status).toBe('match');
    expect(result.fields).toEqual({ title: 'holiday' });
    const formData = result.formData as FormData;
    expect(formData.get('title')).toBe('holiday');
    expect(formData.get('bad')).toBeNull();
    const clean = formData.get('clean') as File;
    expect(clean.type).toBe('image/png');
    expect(clean.name).toBe('clean.txt');
    expect(Buffer.from(await clean.arrayBuffer()).equals(png())).toBe(true);
  });

  it("info.path: path rules match the host router's path, not the URL as sent", async () => {
    const policy = [
      { path: '/evidence', policy: 'block' as const },
      { path: '/', policy: 'flag' as const },
    ];
    const guard = guardWith(new RecordingMatcher([sha(KNOWN)]), { policy });
    const routes: string[] = [];
    guard.on('scan', (e) => routes.push(e.route));
    const send = (info = {}) => {
      const form = new FormData();
      form.append('f', new File([KNOWN], 'f.png'));
      const url = 'http://localhost/%65vidence/1';
      return guard.check(new Request(url, { method: 'POST', body: form }), info);
    };
    // A router that decodes the path routes this to /evidence/1: the host says so.
    expect((await send({ path: '/evidence/1' })).response?.status).toBe(422);
    // Without it, the pathname as sent: the catch-all rule.
    expect(((await send()) as CheckPassed).photodna?.status).toBe('match');
    expect(routes).toEqual(['/evidence/1', '/%65vidence/1']);
  });

  it('answers a rejection as a Response with the SPEC body', async () => {
    const guard = guardWith(new RecordingMatcher([sha(KNOWN)]));
    const form = new FormData();
    form.append('bad', new File([KNOWN], 'bad.png'));
    const { response } = await guard.check(upload(form));
    expect(response?.status).toBe(422);
    expect(response?.headers.get('content-type')).toMatch(/application\/json/);
    expect(await response?.json()).toEqual({
      error: { code: 'INVALID_IMAGE', message: 'The file is not a readable image.' },
    });
  });

  it('leaves any other body unread for the handler', async () => {
    const guard = guardWith();
    const request = new Request('http://localhost/json', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'world' }),
    });
    const result = await guard.check(request);
    expect(result).toMatchObject({ photodna: undefined, formData: undefined });
    expect(await request.json()).toEqual({ hello: 'world' });
  });

  it('streams a large body with the limit (never buffering it whole): 413 FILE_TOO_LARGE', async () => {
    const guard = guardWith(new RecordingMatcher(), { limits: { maxFileSize: 64 * 1024 } });
    const head = Buffer.from(
      '--b\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\n',
    );
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // 8 MiB in 16 KiB chunks, made as they are read.
        if (pulled === 512) controller.close();
        else controller.enqueue(pulled === 0 ? head : new Uint8Array(16 * 1024));
        pulled += 1;
      },
    });
    const request = new Request('http://localhost/upload', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      body,
      duplex: 'half',
    } as RequestInit);
    const { response } = await guard.check(request);
    expect(response?.status).toBe(413);
    const answer = (await response?.json()) as { error: { code: string } };
    expect(answer.error.code).toBe('FILE_TOO_LARGE');
  });

  it('stops when request.signal aborts: nobody to answer, no event, no call', async () => {
    const matcher = new RecordingMatcher();
    const guard = guardWith(matcher);
    const events: string[] = [];
    guard.on('reject', () => events.push('reject')).on('error', () => events.push('error'));
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(
          Buffer.from('--b\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'),
        );
      },
      pull() {
        controller.abort(); // the uploader leaves while the body is still coming
      },
    });
    const request = new Request('http://localhost/upload', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      body,
      duplex: 'half',
      signal: controller.signal,
    } as RequestInit);
    const { response } = await guard.check(request);
    expect(response?.status).toBe(CLIENT_GONE_STATUS);
    expect(events).toEqual([]);
    expect(matcher.calls).toHaveLength(0);
  });
});

/** `body` sent over HTTP to `server` with any method and headers (those `fetch` refuses too). */
function sendOverHttp(
  server: Server,
  init: { method: string; path: string; headers: OutgoingHttpHeaders; body: Buffer },
): Promise<{ status: number; body: string }> {
  const { body, ...options } = init;
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      ...options,
    });
    req.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('a GET, HEAD or TRACE with a multipart type and a body, which its Request does not carry', () => {
  // The guard cannot read that body: 400 as for any bodiless multipart claim, never the 503 and
  // the 'not-configured' alarm of a body read before the guard (which any client could raise).
  it.each([
    ['guard.check(request)', 'GET'],
    ['guard.check(request)', 'HEAD'],
    ['guard.check(request)', 'TRACE'],
    ['the Hono middleware', 'GET'],
    ['the Hono middleware', 'HEAD'],
    ['the Hono middleware', 'TRACE'],
  ])('%s, %s: 400 MALFORMED_MULTIPART, no configuration error', async (kind, method) => {
    const guard =
      kind === 'guard.check(request)'
        ? guardWith()
        : honoGuard({ matcher: new RecordingMatcher() });
    if (kind !== 'guard.check(request)') closers.push(() => guard.close());
    const errors: string[] = [];
    const rejects: string[] = [];
    guard.on('error', (e) => errors.push(`${e.reason}: ${e.error.message}`));
    guard.on('reject', (e) => rejects.push(e.code));
    let runs = 0;
    let fetchHandler: (request: Request) => Promise<Response> | Response;
    if (kind === 'guard.check(request)') {
      const check = (guard as ReturnType<typeof guardWith>).check;
      fetchHandler = async (request) => {
        const { response } = await check(request);
        if (response) return response;
        runs += 1;
        return new Response('a page');
      };
    } else {
      const app = new Hono<PhotoDnaEnv>();
      app.use(guard as ReturnType<typeof honoGuard>);
      app.all('/page', (c) => {
        runs += 1;
        return c.text('a page');
      });
      fetchHandler = app.fetch;
    }
    const server = serve({ fetch: fetchHandler, port: 0, hostname: '127.0.0.1' }) as Server;
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await once(server, 'listening');
    const body = multipartBody('XB', [{ name: 't', data: 'hello' }]);
    const res = await sendOverHttp(server, {
      method,
      path: '/page',
      headers: {
        'content-type': 'multipart/form-data; boundary=XB',
        'content-length': String(body.length),
      },
      body,
    });
    expect(res.status).toBe(400);
    // A HEAD answer carries no body: the code is the `reject` event's.
    if (method !== 'HEAD') expect(JSON.parse(res.body).error.code).toBe('MALFORMED_MULTIPART');
    expect(rejects).toEqual(['MALFORMED_MULTIPART']);
    expect(errors).toEqual([]);
    expect(runs).toBe(0);
  });

  it('a POST Request passed on without the body the host read keeps the configuration error (503)', async () => {
    const guard = guardWith();
    const errors: string[] = [];
    guard.on('error', (e) => errors.push(e.reason ?? ''));
    const body = multipartBody('XB', [{ name: 'f', filename: 'a.png', data: png(200, 200, 6) }]);
    const original = new Request('http://localhost/upload', {
      method: 'POST',
      headers: {
        'content-type': 'multipart/form-data; boundary=XB',
        'content-length': String(body.length),
      },
      body,
    });
    await original.arrayBuffer(); // the host's own read, before the guard
    const rebuilt = new Request(original.url, { method: 'POST', headers: original.headers });
    const { response } = await guard.check(rebuilt);
    expect(response?.status).toBe(503);
    expect(errors).toEqual(['not-configured']);
  });
});

describe('the Hono middleware', () => {
  it('c.req.arrayBuffer() and blob() after a pass hold the scanned form, never a 500', async () => {
    const guard = honoGuard({ matcher: new RecordingMatcher() });
    closers.push(() => guard.close());
    const app = new Hono<PhotoDnaEnv>();
    const image = png(200, 200, 44);
    app.post('/upload', guard.single('photo'), async (c) => {
      const bytes = Buffer.from(await c.req.arrayBuffer());
      const blob = await c.req.blob();
      return c.json({ holdsImage: bytes.includes(image), blobSize: blob.size });
    });
    const form = new FormData();
    form.append('photo', new File([image], 'a.png'));
    const res = await app.request('/upload', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { holdsImage: boolean; blobSize: number };
    expect(body.holdsImage).toBe(true);
    expect(body.blobSize).toBeGreaterThan(image.length);
  });

  it('two Content-Type lines (joined by @hono/node-server, read by formData() as the last): 400, the handler never runs', async () => {
    const guard = honoGuard({ matcher: new RecordingMatcher([sha(KNOWN)]) });
    closers.push(() => guard.close());
    const app = new Hono<PhotoDnaEnv>();
    let runs = 0;
    app.post('/upload', guard.single('photo'), async (c) => {
      runs += 1;
      const form = await c.req.formData();
      return c.json({ got: form.get('photo') instanceof File });
    });
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await once(server, 'listening');
    const body = multipartBody('XB', [
      { name: 'photo', filename: 'k.png', type: 'image/png', data: KNOWN },
    ]);
    const res = await sendOverHttp(server, {
      method: 'POST',
      path: '/upload',
      headers: { 'content-type': ['text/plain', 'multipart/form-data; boundary=XB'] },
      body,
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('MALFORMED_MULTIPART');
    expect(runs).toBe(0);
  });

  it('sets photodna and the scanned form, which c.req.formData() and parseBody() return', async () => {
    const guard = honoGuard({ matcher: new RecordingMatcher() });
    closers.push(() => guard.close());
    const app = new Hono<PhotoDnaEnv>();
    app.post('/upload', guard.single('photo'), async (c) => {
      const form = await c.req.formData();
      const parsed = await c.req.parseBody();
      return c.json({
        status: c.get('photodna').status,
        field: c.get('upload').file?.fieldname,
        type: (form.get('photo') as File).type,
        title: parsed.title,
      });
    });
    const form = new FormData();
    form.append('title', 'x');
    form.append('photo', new File([png()], 'a.bin'));
    const res = await app.request('/upload', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'clean',
      field: 'photo',
      type: 'image/png',
      title: 'x',
    });
  });
});
