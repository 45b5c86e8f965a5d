import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koaMulter from '@koa/multer';
import KoaRouter from '@koa/router';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import { png } from '../fixtures/images.js';
import { adapters, type RouteSpec, type Running, startPerTest } from '../helpers/adapters.js';
import { RecordingMatcher } from '../helpers/matchers.js';

/**
 * No silent downgrade (issue 10): behind `app.use(guard)`, `guard.route({...})` and
 * `single/array/fields/none` keep their meaning, and a setting that cannot be honoured is said
 * once, with the fix. Also: a body the host's multer parsed before the guard is checked, not
 * refused as malformed.
 */
const CLEAN = png(200, 200, 51);
const BIG = png(200, 200, 52, 265_000); // 265 kB, a valid image
const KNOWN = png(200, 200, 53);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const matcher = () => new RecordingMatcher([sha(KNOWN)]);

let warnings: string[] = [];
const onWarning = (w: Error & { code?: string }) => {
  if (w.code?.startsWith('PHOTODNA_GUARD_') || w.code === 'TEST_SENTINEL') warnings.push(w.code);
};
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});
async function allWarnings(): Promise<string[]> {
  process.emitWarning('sentinel', { code: 'TEST_SENTINEL' });
  const deadline = Date.now() + 10_000;
  while (!warnings.includes('TEST_SENTINEL')) {
    if (Date.now() > deadline) throw new Error('no sentinel warning');
    await new Promise((resolve) => setImmediate(resolve));
  }
  return warnings.filter((w) => w !== 'TEST_SENTINEL');
}

for (const adapter of adapters.filter((a) => a.name === 'express5' || a.name === 'koa3')) {
  describe(`route guards behind app.use(guard) (${adapter.name})`, () => {
    let server: Running | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });
    const start = (options: Record<string, unknown>, routes: RouteSpec[]) =>
      adapter.start({ matcher: matcher(), ...options }, routes, { global: true });
    const post = (path: string, bytes: Buffer, field = 'image') =>
      request(server?.url ?? '')
        .post(path)
        .attach(field, bytes, 'a.png');

    it('route({ limits: { maxFileSize: 100_000 } }) answers 413 for 265 kB', async () => {
      server = await start({}, [
        {
          path: '/small',
          use: (g) => g.route({ limits: { maxFileSize: 100_000 } }).single('image'),
        },
      ]);
      const res = await post('/small', BIG);
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('FILE_TOO_LARGE');
      expect(server.log.runs).toBe(0);
      expect((await post('/small', png(160, 160, 58))).status).toBe(200); // 73 kB
    });

    it("route minWidth stricter than the guard's answers 422 IMAGE_TOO_SMALL", async () => {
      server = await start({}, [
        { path: '/wide', use: (g) => g.route({ limits: { minWidth: 300 } }) },
      ]);
      const res = await post('/wide', CLEAN);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('IMAGE_TOO_SMALL');
    });

    it("single('a') with the wrong field answers like multer alone: 413 LIMIT_EXCEEDED", async () => {
      server = await start({}, [{ path: '/a', use: (g) => g.single('a') }]);
      const wrong = await post('/a', CLEAN, 'b');
      expect(wrong.status).toBe(413);
      expect(wrong.body.error.code).toBe('LIMIT_EXCEEDED');
      expect(server.log.runs).toBe(0);
      const right = await post('/a', CLEAN, 'a');
      expect(right.status).toBe(200);
      expect(right.body.file).toMatchObject({ fieldname: 'a' });
    });

    it('none() and array(field, max) keep their rules too', async () => {
      server = await start({}, [
        { path: '/none', use: (g) => g.none() },
        { path: '/two', use: (g) => g.array('p', 2) },
      ]);
      expect((await post('/none', CLEAN)).status).toBe(413);
      const three = await request(server.url)
        .post('/two')
        .attach('p', CLEAN, '1.png')
        .attach('p', png(200, 200, 54), '2.png')
        .attach('p', png(200, 200, 55), '3.png');
      expect(three.status).toBe(413);
    });

    it("route policy 'block' behind a global 'flag' blocks the match (stricter applies)", async () => {
      server = await start({ policy: 'flag' }, [
        { path: '/strict', use: (g) => g.route({ policy: 'block' }).single('image') },
      ]);
      const res = await post('/strict', KNOWN);
      expect(res.status).toBe(422);
      // A match answers like an unreadable image by default (matchAnswer: 'disguised', issue 11).
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(server.log.runs).toBe(0);
    });

    it("route policy 'quarantine' behind a global 'flag': the flagged match is stored, then rejected", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pdg-behind-q-'));
      try {
        server = await start({ policy: 'flag', quarantine: { dir } }, [
          { path: '/evidence', use: (g) => g.route({ policy: 'quarantine' }).single('image') },
        ]);
        const events: string[] = [];
        server.guard
          .on('match', (e) => events.push(`match:${e.policy}`))
          .on('quarantine', (e) => events.push(`quarantine:${e.record.sha256}`))
          .on('reject', (e) => events.push(`reject:${e.code}`));
        const res = await post('/evidence', KNOWN);
        expect(res.status).toBe(422);
        expect(res.body.error.code).toBe('INVALID_IMAGE'); // disguised, as any match
        expect(server.log.runs).toBe(0);
        // Announced once (by the global guard), stored before the answer, then rejected.
        expect(events).toEqual([
          'match:flag',
          `quarantine:${sha(KNOWN)}`,
          'reject:UPLOAD_REJECTED',
        ]);
        const records = await createFileQuarantineStore({ dir }).list();
        expect(records.map((r) => [r.sha256, r.route, r.policy])).toEqual([
          [sha(KNOWN), '/evidence', 'quarantine'],
        ]);
        const stored = await createFileQuarantineStore({ dir }).get(records[0]?.id ?? '');
        expect(stored.bytes.equals(KNOWN)).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("route policy 'quarantine' behind a global 'flag': the flagged match is stored even when the route refuses the request for another reason", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pdg-behind-q-'));
      try {
        const big = { maxFieldSize: 1 << 20 };
        server = await start({ policy: 'flag', quarantine: { dir }, limits: big }, [
          {
            path: '/evidence',
            use: (g) =>
              g.route({ policy: 'quarantine', imageFields: 'reject', limits: big }).single('image'),
          },
        ]);
        const res = await request(server.url)
          .post('/evidence')
          .field('crop', `data:image/png;base64,${CLEAN.toString('base64')}`)
          .attach('image', KNOWN, 'a.png');
        expect(res.status).toBe(415);
        expect(server.log.runs).toBe(0);
        const records = await createFileQuarantineStore({ dir }).list();
        expect(records.map((r) => r.sha256)).toEqual([sha(KNOWN)]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("route policy 'quarantine' behind a global 'flag', the store failing: 503, never passed", async () => {
      const failing = {
        put: () => Promise.reject(new Error('EIO: i/o error')),
        get: () => Promise.reject(new Error('none')),
        getRecord: () => Promise.reject(new Error('none')),
        list: () => Promise.resolve([]),
        markReported: () => Promise.reject(new Error('none')),
        release: () => Promise.reject(new Error('none')),
        purgeExpired: () => Promise.resolve([]),
      };
      server = await start({ policy: 'flag', quarantine: failing }, [
        { path: '/evidence', use: (g) => g.route({ policy: 'quarantine' }).single('image') },
      ]);
      const events: string[] = [];
      server.guard
        .on('match', (e) => events.push(`match:${e.policy}`))
        .on('error', (e) => events.push(`error:${e.stage}:${e.reason ?? ''}`))
        .on('reject', (e) => events.push(`reject:${e.code}`));
      const res = await post('/evidence', KNOWN);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
      expect(server.log.runs).toBe(0);
      expect(events).toEqual([
        'match:flag',
        'error:quarantine:store-failure',
        'reject:SCAN_UNAVAILABLE',
      ]);
    });

    it("route policy 'flag' behind a global 'block': said once, with the fix", async () => {
      server = await start({}, [
        { path: '/chat', use: (g) => g.route({ policy: 'flag' }).single('image') },
      ]);
      expect((await post('/chat', CLEAN)).status).toBe(200);
      expect((await post('/chat', png(200, 200, 56))).status).toBe(200);
      expect(await allWarnings()).toEqual(['PHOTODNA_GUARD_ROUTE_SHADOWED']);
      // The global guard blocks the match: stricter than the route asked, never weaker.
      expect((await post('/chat', KNOWN)).status).toBe(422);
    });

    it("route imageFields 'reject' behind a global 'scan': an image in a text field is 415, the handler never runs", async () => {
      server = await start({ limits: { maxFieldSize: 1 << 20 } }, [
        {
          path: '/text',
          use: (g) => g.route({ imageFields: 'reject', limits: { maxFieldSize: 1 << 20 } }),
        },
      ]);
      const res = await request(server.url)
        .post('/text')
        .field('title', 'hello')
        .field('crop', `data:image/png;base64,${CLEAN.toString('base64')}`);
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(server.log.runs).toBe(0);
      const text = await request(server.url).post('/text').field('title', 'hello');
      expect(text.status).toBe(200);
    });

    it("route trailingData 'reject' behind a global 'strip': said once, with the fix", async () => {
      server = await start({}, [
        { path: '/exact', use: (g) => g.route({ trailingData: 'reject' }).single('image') },
      ]);
      const res = await post('/exact', Buffer.concat([CLEAN, Buffer.from('trailing')]));
      expect(res.status).toBe(200);
      expect(await allWarnings()).toEqual(['PHOTODNA_GUARD_ROUTE_SHADOWED']);
    });

    it('the same guard mounted twice: one warning, one scan', async () => {
      server = await start({}, [{ path: '/twice', use: (g) => g }]);
      expect((await post('/twice', CLEAN)).status).toBe(200);
      expect((await post('/twice', png(200, 200, 57))).status).toBe(200);
      expect(await allWarnings()).toEqual(['PHOTODNA_GUARD_MOUNTED_TWICE']);
    });
  });
}

/** A logger keeping the warnings' codes and texts. */
function warningsSaid() {
  const said: Array<{ code: unknown; text: string }> = [];
  const logger = {
    debug() {},
    info() {},
    error() {},
    warn: (fields: { code?: unknown }, text: string) => said.push({ code: fields.code, text }),
  };
  return { said, logger };
}

/**
 * How each adapter runs a guard in front of another on one request, as its MOUNTED_TWICE and
 * ROUTE_SHADOWED warnings must say.
 */
const TWICE: Record<string, string> = {
  express5: 'app.use(guard)',
  koa3: 'app.use(guard)',
  hono4: 'app.use(guard)',
  fetch: 'guard.check(request)',
};

for (const adapter of adapters.filter((a) => a.name in TWICE)) {
  describe(`the same guard twice on one request (${adapter.name})`, () => {
    const start = startPerTest(adapter);

    it('warns once, in words that fit this adapter', async () => {
      const { said, logger } = warningsSaid();
      const server = await start(
        { matcher: matcher(), logger },
        [{ path: '/twice', use: (g) => g }],
        {
          global: true,
        },
      );
      const res = await request(server.url).post('/twice').attach('image', CLEAN, 'a.png');
      expect(res.status).toBe(200);
      expect(server.log.runs).toBe(1);
      const twice = said.filter((w) => w.code === 'PHOTODNA_GUARD_MOUNTED_TWICE');
      expect(twice).toHaveLength(1);
      expect(twice[0]?.text).toContain(TWICE[adapter.name]);
    });
  });
}

for (const adapter of adapters.filter((a) => a.name in TWICE)) {
  describe(`a route setting a global guard shadows (${adapter.name})`, () => {
    const start = startPerTest(adapter);

    it('is said in words that fit this adapter', async () => {
      const { said, logger } = warningsSaid();
      const server = await start(
        { matcher: matcher(), logger },
        [
          { path: '/chat', use: (g) => g.route({ policy: 'flag' }) },
          { path: '/exact', use: (g) => g.route({ trailingData: 'reject' }) },
        ],
        { global: true },
      );
      for (const path of ['/chat', '/exact']) {
        const res = await request(server.url).post(path).attach('image', CLEAN, 'a.png');
        expect(res.status).toBe(200);
      }
      const shadowed = said.filter((w) => w.code === 'PHOTODNA_GUARD_ROUTE_SHADOWED');
      expect(shadowed).toHaveLength(2);
      for (const { text } of shadowed) expect(text).toContain(TWICE[adapter.name]);
    });
  });
}

describe('a body the host parsed before the guard is checked where the parser left it', () => {
  it('Express: app.use(multer().any()); app.use(guard)', async () => {
    const guard = photodnaGuard({ matcher: matcher() });
    let matches = 0;
    guard.on('match', () => {
      matches += 1;
    });
    const app = express();
    app.use(multer().any());
    app.use(guard);
    app.post('/upload', (req, res) => {
      res.json({ files: Array.isArray(req.files) ? req.files.length : -1, body: req.body });
    });
    const ok = await request(app).post('/upload').field('note', 'hi').attach('f', CLEAN, 'a.png');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ files: 1, body: { note: 'hi' } });
    const bad = await request(app).post('/upload').attach('f', KNOWN, 'k.png');
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('INVALID_IMAGE'); // the disguised answer to a match
    expect(matches).toBe(1);
    await guard.close();
  });

  it('Koa: app.use(koaMulter().any()); app.use(guard)', async () => {
    const guard = koaGuard({ matcher: matcher() });
    const app = new Koa();
    app.use(koaMulter().any());
    app.use(guard as never);
    const router = new KoaRouter();
    router.post('/upload', (ctx) => {
      const files = (ctx as unknown as { files?: unknown[] }).files;
      ctx.body = { files: files?.length ?? -1 };
    });
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1');
    try {
      const ok = await request(server).post('/upload').attach('f', CLEAN, 'a.png');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ files: 1 });
      const bad = await request(server).post('/upload').attach('f', KNOWN, 'k.png');
      expect(bad.status).toBe(422);
    } finally {
      server.close();
      await guard.close();
    }
  });
});
