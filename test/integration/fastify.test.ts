/**
 * What only the Fastify plugin has: registration the Fastify way, route `config.photodna`, body
 * validation after the guard, and `'scan'` mode over @fastify/multipart (buffered parts on the
 * body, or files saved to disk by `saveRequestFiles`). The common cases run in the shared suite.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type FastifyGuardOptions, photodnaGuard } from '../../src/fastify.js';
import { png } from '../fixtures/images.js';
import { pngChunk, withPngChunks } from '../fixtures/metadata.js';
import { knownImage } from '../helpers/emulated.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { exchange, multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

expectNoTempFiles();

const KNOWN = knownImage();
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await finished;
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** Resolves once every response so far has run its onResponse hooks (@fastify/multipart's cleanup). */
let finished: Promise<unknown> = Promise.resolve();

async function appWith(options: FastifyGuardOptions, multipart?: object): Promise<FastifyInstance> {
  const app = Fastify();
  apps.push(app);
  if (multipart) await app.register(fastifyMultipart, multipart);
  await app.register(photodnaGuard, options);
  app.addHook('onRequest', async () => {
    let done: () => void = () => {};
    finished = Promise.all([finished, new Promise<void>((resolve) => (done = resolve))]);
    pendingDone.push(done);
  });
  app.addHook('onResponse', async () => pendingDone.shift()?.());
  return app;
}
const pendingDone: Array<() => void> = [];

describe('the plugin', () => {
  it('registers without encapsulation, named, with its events on app.photodna', async () => {
    const matcher = new RecordingMatcher();
    const app = Fastify();
    apps.push(app);
    await app.register(photodnaGuard, { matcher });
    // Not encapsulated: the hook and the decoration reach the context that registered it.
    app.post('/upload', async (req) => ({ photodna: req.photodna }));
    const scans: string[] = [];
    app.photodna.on('scan', (e) => scans.push(e.file.field));
    await app.ready();
    expect(app.printPlugins()).toContain('photodna-guard');
    const res = await request(app.server).post('/upload').attach('photo', png(), 'a.png');
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('clean');
    expect(scans).toEqual(['photo']);
  });

  it('config.photodna: false leaves a route unguarded; route overrides apply per route', async () => {
    const matcher = new RecordingMatcher([sha(KNOWN)]);
    const app = await appWith({ matcher });
    app.post('/open', { config: { photodna: false } }, async (req) => ({ body: req.body ?? null }));
    app.post('/flag', { config: { photodna: { policy: 'flag' } } }, async (req) => ({
      photodna: req.photodna,
    }));
    app.post('/block', async () => ({ ran: true }));
    await app.ready();
    const open = await request(app.server).post('/open').attach('f', KNOWN, 'f.png');
    expect(open.status).toBe(200);
    expect(matcher.calls).toHaveLength(0);
    const flag = await request(app.server).post('/flag').attach('f', KNOWN, 'f.png');
    expect(flag.status).toBe(200);
    expect(flag.body.photodna.status).toBe('match');
    const block = await request(app.server).post('/block').attach('f', KNOWN, 'f.png');
    expect(block.status).toBe(422);
    expect(block.body).toEqual({
      error: { code: 'INVALID_IMAGE', message: 'The file is not a readable image.' },
    });
  });

  it("a route's overrides are checked like guard.route()'s: defer without the guard's queue is refused", async () => {
    const app = await appWith({ matcher: new RecordingMatcher() });
    expect(() =>
      app.post('/later', { config: { photodna: { defer: true } } }, async () => ({ ran: true })),
    ).toThrow(/defer.*queue/);
  });

  it('the body schema validates the parsed fields (the guard runs before validation)', async () => {
    const app = await appWith({ matcher: new RecordingMatcher() });
    const schema = { body: { type: 'object', required: ['title'] } };
    app.post('/upload', { schema }, async (req) => ({ body: req.body, file: req.uploads?.files }));
    await app.ready();
    const ok = await request(app.server)
      .post('/upload')
      .field('title', 'holiday')
      .attach('f', png(), 'a.png');
    expect(ok.status).toBe(200);
    expect(ok.body.body).toEqual({ title: 'holiday' });
    const missing = await request(app.server).post('/upload').attach('f', png(), 'a.png');
    expect(missing.status).toBe(400);
  });

  it.each([
    'multipart/mixed; boundary=B',
    'multipart/related; boundary=B',
    'application/octet-stream; boundary=B; t=multipart/form-data',
  ])(
    "'parse' mode: a body claiming multipart as %s is the guard's to refuse (400 MALFORMED_MULTIPART, announced), not Fastify's 415",
    async (type) => {
      const app = await appWith({ matcher: new RecordingMatcher() });
      const rejects: string[] = [];
      app.photodna.on('reject', (event) => rejects.push(event.code));
      let runs = 0;
      app.post('/upload', async () => {
        runs += 1;
        return {};
      });
      await app.ready();
      const res = await request(app.server)
        .post('/upload')
        .set('content-type', type)
        .send(
          multipartBody('B', [{ name: 'f', filename: 'a.png', type: 'image/png', data: png() }]),
        );
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
      expect(rejects).toEqual(['MALFORMED_MULTIPART']);
      expect(runs).toBe(0);
    },
  );

  it("'parse' mode: a route with photodna: false keeps the host's parser for other multipart types", async () => {
    const app = Fastify();
    apps.push(app);
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    await app.register(photodnaGuard, { matcher: new RecordingMatcher() });
    app.post('/raw', { config: { photodna: false } }, async (req) => ({
      bytes: Buffer.isBuffer(req.body) ? req.body.length : null,
    }));
    await app.ready();
    const res = await app.inject({
      method: 'POST',
      url: '/raw',
      headers: { 'content-type': 'multipart/related; boundary=B' },
      payload: 'hello',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ bytes: 5 });
  });

  it('path rules see the path as the router matches it, with the leniencies the app set', async () => {
    const matcher = new RecordingMatcher([sha(KNOWN)]);
    const app = Fastify({
      routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true },
      // The deprecated top-level form (Fastify's types lack it in routerOptions): read too.
      useSemicolonDelimiter: true,
    });
    apps.push(app);
    // Evidence uploads are blocked; everything else is only flagged.
    const policy = [
      { path: /^\/evidence\/\d+$/, policy: 'block' as const },
      { path: '/', policy: 'flag' as const },
    ];
    await app.register(photodnaGuard, { matcher, policy });
    let runs = 0;
    app.post('/evidence/:id', async (req) => {
      runs += 1;
      return { photodna: req.photodna };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const send = (target: string, image: Buffer) => {
      const body = multipartBody('B', [
        { name: 'f', filename: 'f.png', type: 'image/png', data: image },
      ]);
      const head = [
        `POST ${target} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Content-Type: multipart/form-data; boundary=B',
        `Content-Length: ${body.length}`,
      ];
      return exchange(port, head, body);
    };
    const targets = [
      '/evidence/1',
      '//evidence/1',
      '/evidence//1',
      '/evidence/1/',
      '/evidence/1;jsessionid=x',
      '/%65vidence/%31',
    ];
    for (const target of targets) {
      // The router hands each of these to the evidence handler: its rule ('block') must apply.
      expect((await send(target, png())).status, target).toBe(200);
      const before = runs;
      expect((await send(target, KNOWN)).status, target).toBe(422);
      expect(runs, target).toBe(before);
    }
    expect(runs).toBe(targets.length);
  });

  it("'parse' mode refuses to share multipart with @fastify/multipart (loudly, at start-up)", async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(fastifyMultipart);
    await expect(
      app.register(photodnaGuard, { matcher: new RecordingMatcher() }).ready(),
    ).rejects.toThrow(/already present|already/i);
  });
});

describe("'scan' mode: after @fastify/multipart", () => {
  it("a route's select, which @fastify/multipart would not enforce, is refused at registration", async () => {
    const app = await appWith({ matcher: new RecordingMatcher(), mode: 'scan' }, {});
    expect(() =>
      app.post(
        '/avatar',
        { config: { photodna: { select: { kind: 'single', field: 'avatar' } } } },
        async () => ({ ran: true }),
      ),
    ).toThrow(/select: applies only in mode 'parse'/);
    // Without select the same route registers, and its other overrides apply.
    app.post('/avatar', { config: { photodna: { policy: 'flag' } } }, async () => ({ ran: true }));
    await app.ready();
  });

  it('saveRequestFiles: scans the saved files; a flagged match is withheld and deleted', async () => {
    const app = await appWith(
      { matcher: new RecordingMatcher([sha(KNOWN)]), mode: 'scan', policy: 'flag' },
      {},
    );
    let saved: string[] = [];
    app.post('/upload', async (req) => {
      const { files } = await req.saveRequestFiles();
      saved = files.map((f) => f.filepath);
      return { fields: files.map((f) => f.fieldname), photodna: req.photodna };
    });
    await app.ready();
    const withheld: string[] = [];
    app.photodna.on('match', (e) => withheld.push(e.file.field));
    const res = await request(app.server)
      .post('/upload')
      .attach('clean', png(), 'clean.png')
      .attach('bad', KNOWN, 'bad.png');
    expect(res.status).toBe(200);
    expect(res.body.fields).toEqual(['clean']);
    expect(res.body.photodna.status).toBe('match');
    expect(withheld).toEqual(['bad']);
    expect(saved).toHaveLength(1);
  });

  it('saveRequestFiles: a body cut short is 400 MALFORMED_MULTIPART (announced), its limits errors stay its own', async () => {
    const app = await appWith(
      { matcher: new RecordingMatcher(), mode: 'scan' },
      { limits: { fileSize: 150_000 } },
    );
    let runs = 0;
    app.post('/upload', async (req) => {
      runs += 1;
      await req.saveRequestFiles();
      return { ran: true };
    });
    await app.ready();
    const rejects: string[] = [];
    app.photodna.on('reject', (e) => rejects.push(e.code));
    const whole = multipartBody('CutB', [
      { name: 'f', filename: 'a.png', type: 'image/png', data: png(200, 200, 71) },
    ]);
    const cut = await request(app.server)
      .post('/upload')
      .set('content-type', 'multipart/form-data; boundary=CutB')
      .send(whole.subarray(0, whole.length - 40));
    expect(cut.status).toBe(400);
    expect(cut.body.error.code).toBe('MALFORMED_MULTIPART');
    expect(rejects).toEqual(['MALFORMED_MULTIPART']);
    // The plugin's own limit (a status of its own): Fastify's error handler answers it.
    const big = await request(app.server)
      .post('/upload')
      .attach('f', png(200, 200, 72, 200_000), 'big.png');
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('FST_REQ_FILE_TOO_LARGE');
    expect(runs).toBe(0);
  });

  it.each([
    ['saveRequestFiles', {}],
    ['attachFieldsToBody', { attachFieldsToBody: true }],
  ])(
    '%s: a file part without a field name is 400 MALFORMED_MULTIPART, not a configuration error',
    async (_, multipart) => {
      const app = await appWith({ matcher: new RecordingMatcher(), mode: 'scan' }, multipart);
      let runs = 0;
      app.post('/upload', async (req) => {
        runs += 1;
        if (!('attachFieldsToBody' in multipart)) await req.saveRequestFiles();
        return { ran: true };
      });
      await app.ready();
      const errors: string[] = [];
      const rejects: string[] = [];
      app.photodna.on('error', (e) => errors.push(`${e.reason}: ${e.error.message}`));
      app.photodna.on('reject', (e) => rejects.push(e.code));
      const body = Buffer.concat([
        Buffer.from(
          '--NoName\r\nContent-Disposition: form-data; filename="a.png"\r\nContent-Type: image/png\r\n\r\n',
        ),
        png(200, 200, 73),
        Buffer.from('\r\n--NoName--\r\n'),
      ]);
      const res = await request(app.server)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=NoName')
        .send(body);
      // As where the guard parses (multer: 'Field name missing'); never the alarm of a foreign parser.
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
      expect(rejects).toEqual(['MALFORMED_MULTIPART']);
      expect(errors).toEqual([]);
      expect(runs).toBe(0);
    },
  );

  it.each(['GET', 'HEAD', 'TRACE'])(
    'a %s with a multipart type and a body (Fastify reads none of it) is 400 MALFORMED_MULTIPART, not a configuration error',
    async (method) => {
      const app = await appWith({ matcher: new RecordingMatcher(), mode: 'scan' }, {});
      let runs = 0;
      app.all('/page', async () => {
        runs += 1;
        return 'a page';
      });
      await app.ready();
      const errors: string[] = [];
      const rejects: string[] = [];
      app.photodna.on('error', (e) => errors.push(`${e.reason}: ${e.error.message}`));
      app.photodna.on('reject', (e) => rejects.push(e.code));
      const body = multipartBody('XB', [{ name: 'f', filename: 'a.png', data: png(200, 200, 74) }]);
      const res = await app.inject({
        method: method as 'GET',
        url: '/page',
        headers: {
          'content-type': 'multipart/form-data; boundary=XB',
          'content-length': String(body.length),
        },
        payload: body,
      });
      expect(res.statusCode).toBe(400);
      // A HEAD answer carries no body: the code is the `reject` event's.
      if (method !== 'HEAD') expect(res.json().error.code).toBe('MALFORMED_MULTIPART');
      expect(rejects).toEqual(['MALFORMED_MULTIPART']);
      expect(errors).toEqual([]);
      expect(runs).toBe(0);
      // A plain request of the method is not the guard's business.
      const plain = await app.inject({ method: method as 'GET', url: '/page' });
      expect(plain.statusCode).toBe(200);
      if (method !== 'HEAD') expect(plain.body).toBe('a page');
    },
  );

  it("a host that gave GET a body (addHttpMethod): its GET uploads are scanned like a POST's", async () => {
    const app = Fastify();
    apps.push(app);
    app.addHttpMethod('GET', { hasBody: true, overrideExisting: true });
    await app.register(fastifyMultipart, { attachFieldsToBody: true });
    const matcher = new RecordingMatcher([sha(KNOWN)]);
    await app.register(photodnaGuard, { matcher, mode: 'scan' });
    let runs = 0;
    app.get('/search', async (req) => {
      runs += 1;
      return { status: req.photodna?.status };
    });
    await app.ready();
    const send = (data: Buffer) =>
      request(app.server)
        .get('/search')
        .set('content-type', 'multipart/form-data; boundary=XB')
        .send(multipartBody('XB', [{ name: 'f', filename: 'a.png', data }]));
    const clean = await send(png(200, 200, 75));
    expect(clean.status).toBe(200);
    expect(clean.body).toEqual({ status: 'clean' });
    const known = await send(KNOWN);
    expect(known.status).toBe(422);
    expect(matcher.calls).toHaveLength(2);
    expect(runs).toBe(1);
  });

  it('saveRequestFiles: a blocked match answers 422 with the SPEC body, no file left on disk', async () => {
    const app = await appWith({ matcher: new RecordingMatcher([sha(KNOWN)]), mode: 'scan' }, {});
    let runs = 0;
    app.post('/upload', async () => {
      runs += 1;
      return {};
    });
    await app.ready();
    const res = await request(app.server).post('/upload').attach('bad', KNOWN, 'bad.png');
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error: { code: 'INVALID_IMAGE', message: 'The file is not a readable image.' },
    });
    expect(runs).toBe(0);
  });

  it('attachFieldsToBody: scans the buffered parts; a flagged match leaves the body', async () => {
    const app = await appWith(
      { matcher: new RecordingMatcher([sha(KNOWN)]), mode: 'scan', policy: 'flag' },
      { attachFieldsToBody: true },
    );
    app.post('/upload', async (req) => {
      const body = req.body as Record<string, { filename?: string; value?: string }>;
      return { keys: Object.keys(body).sort(), photodna: req.photodna };
    });
    await app.ready();
    const res = await request(app.server)
      .post('/upload')
      .field('title', 'x')
      .attach('clean', png(), 'clean.png')
      .attach('bad', KNOWN, 'bad.png');
    expect(res.status).toBe(200);
    expect(res.body.keys).toEqual(['clean', 'title']);
    expect(res.body.photodna.files.map((f: { field: string }) => f.field)).toEqual([
      'clean',
      'bad',
    ]);
  });

  it('attachFieldsToBody: the part the handler reads holds what was checked (trailing data stripped, sniffed type, the claim kept)', async () => {
    const matcher = new RecordingMatcher();
    const app = await appWith({ matcher, mode: 'scan' }, { attachFieldsToBody: true });
    type Part = { toBuffer(): Promise<Buffer>; mimetype: string; clientMimetype?: string };
    app.post('/upload', async (req) => {
      const part = (req.body as Record<string, Part>).photo;
      const bytes = await part?.toBuffer();
      return {
        sha: bytes && sha(bytes),
        mimetype: part?.mimetype,
        clientMimetype: part?.clientMimetype,
      };
    });
    await app.ready();
    const image = png();
    const res = await request(app.server)
      .post('/upload')
      .attach('photo', Buffer.concat([image, KNOWN]), {
        filename: 'a.html',
        contentType: 'text/html',
      });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      sha: sha(image),
      mimetype: 'image/png',
      clientMimetype: 'text/html',
    });
    expect(matcher.calls.map((c) => c.file.sha256)).toEqual([sha(image)]);
  });

  describe.each([
    ['saveRequestFiles()', undefined],
    ['attachFieldsToBody: true', true],
    ["attachFieldsToBody: 'keyValues'", 'keyValues'],
  ] as const)('%s: images in text fields are checked like files', (_, attachFieldsToBody) => {
    /** The text fields as the handler reads them in this mode: key → value(s). */
    async function textFields(req: FastifyRequest): Promise<Record<string, unknown>> {
      const container =
        attachFieldsToBody === undefined
          ? ((await req.saveRequestFiles()).values as Record<string, unknown>)
          : (req.body as Record<string, unknown>);
      const text = (v: unknown) =>
        typeof v === 'string'
          ? v
          : (v as { type?: string; value?: unknown }).type === 'field'
            ? (v as { value: unknown }).value
            : undefined;
      const fields: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(container)) {
        const values = (Array.isArray(value) ? value : [value])
          .map(text)
          .filter((v) => v !== undefined);
        if (values.length > 0) fields[key] = Array.isArray(value) ? values : values[0];
      }
      return fields;
    }
    const multipart = attachFieldsToBody === undefined ? {} : { attachFieldsToBody };
    const dataUrl = (bytes: Buffer) => `data:image/png;base64,${bytes.toString('base64')}`;

    it.each([0, 60])(
      "under 'block', a known image as a data: URL after %i other text fields is refused; the handler never runs",
      async (before) => {
        const matcher = new RecordingMatcher([sha(KNOWN)]);
        const app = await appWith({ matcher, mode: 'scan' }, multipart);
        let runs = 0;
        app.post('/upload', async () => {
          runs += 1;
          return {};
        });
        await app.ready();
        let req = request(app.server)
          .post('/upload')
          .attach('photo', png(200, 200, 78), 'a.png');
        for (let i = 0; i < before; i++) req = req.field(`note${i}`, `text ${i}`);
        const res = await req.field('avatar', dataUrl(KNOWN));
        expect(res.status).toBe(422);
        expect(matcher.calls.map((c) => c.file.sha256)).toContain(sha(KNOWN));
        expect(runs).toBe(0);
      },
    );

    it.each([
      [3_000, 422],
      [20_000, 413],
    ])(
      'a JSON text part nested %i deep (deeper than a recursive walk could go) is looked through: %i, never a 500',
      async (depth, status) => {
        const matcher = new RecordingMatcher([sha(KNOWN)]);
        const app = await appWith({ matcher, mode: 'scan' }, multipart);
        let runs = 0;
        app.post('/upload', async () => {
          runs += 1;
          return {};
        });
        await app.ready();
        const json = `${'['.repeat(depth)}"${dataUrl(KNOWN)}"${']'.repeat(depth)}`;
        const res = await request(app.server)
          .post('/upload')
          .set('content-type', 'multipart/form-data; boundary=DeepB')
          .send(
            multipartBody('DeepB', [
              { name: 'meta', type: 'application/json', data: json },
              { name: 'photo', filename: 'a.png', type: 'image/png', data: png(200, 200, 79) },
            ]),
          );
        expect(res.status).toBe(status);
        expect(runs).toBe(0);
        const known = matcher.calls.some((c) => c.file.sha256 === sha(KNOWN));
        expect(known).toBe(status === 422);
      },
    );

    it("under imageFields 'reject', an image in a text field is 415, never checked", async () => {
      const matcher = new RecordingMatcher();
      const app = await appWith({ matcher, mode: 'scan', imageFields: 'reject' }, multipart);
      app.post('/upload', async () => ({}));
      await app.ready();
      const res = await request(app.server)
        .post('/upload')
        .field('title', 'x')
        .field('avatar', dataUrl(png(200, 200, 81)));
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(matcher.calls).toHaveLength(0);
    });

    it("under sanitize 'metadata', the field the handler reads holds the checked image", async () => {
      const matcher = new RecordingMatcher();
      const app = await appWith({ matcher, mode: 'scan', sanitize: 'metadata' }, multipart);
      app.post('/upload', async (req) => ({ fields: await textFields(req) }));
      await app.ready();
      const tagged = withPngChunks(png(200, 200, 80), [
        pngChunk('tEXt', Buffer.from('Comment\0secret', 'latin1')),
      ]);
      const res = await request(app.server).post('/upload').field('avatar', dataUrl(tagged));
      expect(res.status).toBe(200);
      const checked = matcher.calls[0]?.bytes as Buffer;
      expect(checked.length).toBeLessThan(tagged.length);
      expect(res.body.fields).toEqual({ avatar: dataUrl(checked) });
    });

    it("under 'flag', a matched text image is gone from the fields the handler reads; the rest stays", async () => {
      const matcher = new RecordingMatcher([sha(KNOWN)]);
      const app = await appWith({ matcher, mode: 'scan', policy: 'flag' }, multipart);
      app.post('/upload', async (req) => ({
        fields: await textFields(req),
        photodna: req.photodna,
      }));
      await app.ready();
      const clean = png(200, 200, 79);
      const res = await request(app.server)
        .post('/upload')
        .field('title', 'hello')
        .field('avatar', dataUrl(KNOWN))
        .field('crops', dataUrl(clean))
        .field('crops', dataUrl(KNOWN))
        .field('crops', 'plain text');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('match');
      expect(res.body.fields).toEqual({ title: 'hello', crops: [dataUrl(clean), 'plain text'] });
      // The same image twice costs one call (the cache); both copies are withheld.
      expect(matcher.calls.map((c) => c.file.sha256).sort()).toEqual(
        [sha(KNOWN), sha(clean)].sort(),
      );
    });
  });

  describe("attachFieldsToBody: 'keyValues' (files are bare Buffers on the body)", () => {
    const handler = (app: FastifyInstance) =>
      app.post('/upload', async (req) => {
        const body = req.body as Record<string, unknown>;
        const shas: Record<string, string | string[]> = {};
        for (const [key, value] of Object.entries(body)) {
          if (Buffer.isBuffer(value)) shas[key] = sha(value);
          else if (Array.isArray(value)) {
            shas[key] = value.map((v) => (Buffer.isBuffer(v) ? sha(v) : String(v)));
          } else shas[key] = String(value);
        }
        return { shas, photodna: req.photodna };
      });

    /** An app whose handler echoes the body's SHA-256s, the known image on the matcher's list. */
    async function keyValuesApp(options: Partial<FastifyGuardOptions> = {}) {
      const matcher = new RecordingMatcher([sha(KNOWN)]);
      const app = await appWith(
        { matcher, mode: 'scan', ...options },
        { attachFieldsToBody: 'keyValues' },
      );
      handler(app);
      await app.ready();
      return { matcher, app };
    }

    it("a known image is refused under 'block'; the handler never runs", async () => {
      const matcher = new RecordingMatcher([sha(KNOWN)]);
      const app = await appWith({ matcher, mode: 'scan' }, { attachFieldsToBody: 'keyValues' });
      let runs = 0;
      app.addHook('preHandler', async () => {
        runs += 1;
      });
      handler(app);
      await app.ready();
      const res = await request(app.server).post('/upload').attach('bad', KNOWN, 'bad.png');
      expect(res.status).toBe(422);
      expect(matcher.calls.map((c) => c.file.sha256)).toEqual([sha(KNOWN)]);
      expect(runs).toBe(0);
    });

    it('the handler gets the bytes as checked (trailing data stripped); a flagged match leaves the body', async () => {
      const { matcher, app } = await keyValuesApp({ policy: 'flag' });
      const image = png(200, 200, 77);
      const res = await request(app.server)
        .post('/upload')
        .field('title', 'x')
        .attach('photo', Buffer.concat([image, Buffer.from('hidden payload')]), 'a.png')
        .attach('bad', KNOWN, 'bad.png');
      expect(res.status).toBe(200);
      expect(res.body.shas).toEqual({ title: 'x', photo: sha(image) });
      expect(res.body.photodna.status).toBe('match');
      expect(matcher.calls.map((c) => c.file.sha256).sort()).toEqual(
        [sha(image), sha(KNOWN)].sort(),
      );
    });

    it('one key holding a file and text images: what is withheld goes, whatever the order on the body', async () => {
      const { app } = await keyValuesApp({ policy: 'flag' });
      const dataUrl = `data:image/png;base64,${KNOWN.toString('base64')}`;
      const res = await request(app.server)
        .post('/upload')
        .attach('pic', KNOWN, 'a.png')
        .field('pic', dataUrl)
        .field('pic', 'x');
      expect(res.status).toBe(200);
      expect(res.body.shas).toEqual({ pic: ['x'] });
    });

    it('a JSON field shaped like a part is data, not a part: an image inside it is checked, a fake file is no crash', async () => {
      const { matcher, app } = await keyValuesApp();
      const send = (json: unknown) =>
        request(app.server)
          .post('/upload')
          .set('content-type', 'multipart/form-data; boundary=JsonPart')
          .send(
            multipartBody('JsonPart', [
              { name: 'meta', type: 'application/json', data: JSON.stringify(json) },
            ]),
          );
      const hidden = `data:image/png;base64,${KNOWN.toString('base64')}`;
      const spoofed = await send({ type: 'field', value: 'x', img: hidden });
      expect(spoofed.status).toBe(422);
      expect(matcher.calls.map((c) => c.file.sha256)).toEqual([sha(KNOWN)]);
      const fakeFile = await send({ type: 'file', _buf: 'abc', fieldname: 'meta' });
      expect(fakeFile.status).toBe(200);
    });

    it('a file that is not an image is refused (415), as any upload the guard sees', async () => {
      const app = await appWith(
        { matcher: new RecordingMatcher(), mode: 'scan' },
        { attachFieldsToBody: 'keyValues' },
      );
      handler(app);
      await app.ready();
      const res = await request(app.server)
        .post('/upload')
        .attach('doc', Buffer.from('%PDF-1.7 not an image'), 'a.pdf');
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });
  });

  it('an unsupported file is refused with the SPEC code; files the guard saw are gone', async () => {
    const app = await appWith({ matcher: new RecordingMatcher(), mode: 'scan' }, {});
    let paths: string[] = [];
    app.addHook('onRequest', async (req) => {
      req.raw.once('end', () => {
        paths = (req.tmpUploads ?? []).slice();
      });
    });
    app.post('/upload', async () => ({}));
    await app.ready();
    const res = await request(app.server).post('/upload').attach('f', Buffer.from('text'), 'a.png');
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    for (const path of paths) expect(existsSync(path)).toBe(false);
  });
});
