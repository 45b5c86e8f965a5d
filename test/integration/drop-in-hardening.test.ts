import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koaMulter from '@koa/multer';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';

/**
 * The guard behind a parser the host mounted first (issue 10's drop-in mode), attacked: what
 * that parser leaves is checked or refused, never passed as clean unchecked, and the guard's own
 * limits hold whatever the host parser allowed.
 */
const CLEAN = png(200, 200, 71);
const KNOWN = png(200, 200, 72);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdg-dropin-'));
  dirs.push(dir);
  return dir;
};

describe('a raw body parser ahead of the guard', () => {
  it.each([
    ['express.raw() into req.body', 'body'],
    ["a platform's req.rawBody (Cloud Functions)", 'rawBody'],
  ] as const)(
    'raw body ahead of the guard (%s): refused 503, never handed on as clean',
    async (_, where) => {
      const matcher = new RecordingMatcher([sha(KNOWN)]);
      const app = express();
      if (where === 'body') app.use(express.raw({ type: 'multipart/form-data', limit: '10mb' }));
      else {
        // As Cloud Functions does before the app runs: the stream read into `req.rawBody`.
        app.use((req, _res, next) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            (req as { rawBody?: Buffer }).rawBody = Buffer.concat(chunks);
            next();
          });
        });
      }
      app.use(photodnaGuard({ matcher }));
      // The handler parses those bytes itself (busboy.end(req.rawBody), as on Cloud Functions).
      let handed: boolean | undefined;
      app.post('/upload', (req, res) => {
        const raw = where === 'body' ? req.body : (req as { rawBody?: Buffer }).rawBody;
        handed = Buffer.isBuffer(raw) && raw.includes(KNOWN);
        res.json({ photodna: (req as { photodna?: unknown }).photodna });
      });
      const res = await request(app).post('/upload').attach('f', KNOWN, 'k.png');
      expect({ status: res.status, code: res.body.error?.code }).toEqual({
        status: 503,
        code: 'SCAN_UNAVAILABLE',
      });
      expect(handed).toBeUndefined();
    },
  );

  it("raw body ahead of the guard (Koa, a body parser's ctx.request.rawBody): refused 503", async () => {
    const app = new Koa();
    // As koa-bodyparser told to read any type as text: the stream read into `rawBody`.
    app.use(async (ctx, next) => {
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
      (ctx.request as { rawBody?: string }).rawBody = Buffer.concat(chunks).toString('latin1');
      await next();
    });
    app.use(koaGuard({ matcher: new RecordingMatcher([sha(KNOWN)]) }));
    let ran = false;
    app.use((ctx) => {
      ran = true;
      ctx.body = {};
    });
    const res = await request(app.callback()).post('/upload').attach('f', KNOWN, 'k.png');
    expect({ status: res.status, code: res.body.error?.code }).toEqual({
      status: 503,
      code: 'SCAN_UNAVAILABLE',
    });
    expect(ran).toBe(false);
  });
});

describe('a host parser with higher limits than the guard', () => {
  it('more files than limits.maxFiles from a host multer: 413 before any is read or checked', async () => {
    const dir = tempDir();
    const matcher = new RecordingMatcher();
    const app = express();
    app.use(multer({ dest: dir }).any());
    app.use(photodnaGuard({ matcher, limits: { maxFiles: 2 } }));
    let ran = false;
    app.post('/upload', (_req, res) => {
      ran = true;
      res.json({});
    });
    const res = await request(app)
      .post('/upload')
      .attach('a', CLEAN, 'a.png')
      .attach('b', CLEAN, 'b.png')
      .attach('c', CLEAN, 'c.png');
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
    expect(ran).toBe(false);
    expect(matcher.calls).toHaveLength(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('more files than limits.maxFiles from multer before guard.scan(): 413, none checked (Koa)', async () => {
    const dir = tempDir();
    const matcher = new RecordingMatcher();
    const guard = koaGuard({ matcher, limits: { maxFiles: 2 } });
    const app = new Koa();
    app.use(koaMulter({ dest: dir }).any());
    app.use(guard.scan());
    let ran = false;
    app.use((ctx) => {
      ran = true;
      ctx.body = {};
    });
    const res = await request(app.callback())
      .post('/upload')
      .attach('a', CLEAN, 'a.png')
      .attach('b', CLEAN, 'b.png')
      .attach('c', CLEAN, 'c.png');
    expect({ status: res.status, code: res.body.error?.code }).toEqual({
      status: 413,
      code: 'LIMIT_EXCEEDED',
    });
    expect(ran).toBe(false);
    expect(matcher.calls).toHaveLength(0);
    expect(readdirSync(dir)).toEqual([]);
  });
});
