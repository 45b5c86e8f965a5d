import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koaMulter from '@koa/multer';
import KoaRouter from '@koa/router';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionsError, photodnaGuard, type ScanEvent } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { bmp, jpg } from '../fixtures/images.js';
import { exifSegment, withJpegSegments } from '../fixtures/metadata.js';
import { adapters } from '../helpers/adapters.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { until } from '../helpers/until.js';

/**
 * Issue 11, class 4, where the bytes live elsewhere: a host's own multer with disk storage
 * (`guard.scan()`: the temp file is replaced by the checked bytes, and nothing stays on disk when
 * the re-encode fails), and deferred scans (the queued job holds the sanitized bytes).
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const root = mkdtempSync(join(tmpdir(), 'pdg-sanitize-disk-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const fresh = (name: string) => {
  const dir = join(root, `${name}-${dirs++}`);
  mkdirSync(dir);
  return dir;
};
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A BMP that claims more rows than its pixel data holds: valid header, undecodable body. */
function shortBmp(): Buffer {
  const bytes = bmp(200, 200, 77);
  bytes.writeInt32LE(400, 22); // height 400: twice the rows the file holds
  return bytes;
}

interface DiskEcho {
  size: number;
  mimetype: string;
  originalname: string;
  onDisk: string;
}

/** What the handler got: multer's file facts and the hash of the file on disk. */
function diskEcho(file: Express.Multer.File): DiskEcho {
  return {
    size: file.size,
    mimetype: file.mimetype,
    originalname: file.originalname,
    onDisk: sha256(readFileSync(file.path)),
  };
}

/** The listening server, closed with its guard after each test. */
function listening(server: Server, guard: { close(): Promise<void> }): Server {
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await guard.close();
  });
  return server;
}

/** Express or Koa, each with its own multer writing to `dir`, then `guard.scan()`. */
const hosts = {
  express: async (dir: string, matcher: RecordingMatcher) => {
    const guard = photodnaGuard({ matcher, sanitize: 'reencode' });
    const app = express();
    app.post('/upload', multer({ dest: dir }).single('f'), guard.scan(), (req, res) => {
      res.json(diskEcho(req.file as Express.Multer.File));
    });
    return listening(app.listen(0, '127.0.0.1'), guard);
  },
  koa: async (dir: string, matcher: RecordingMatcher) => {
    const guard = koaGuard({ matcher, sanitize: 'reencode' });
    const app = new Koa();
    const router = new KoaRouter();
    router.post('/upload', koaMulter({ dest: dir }).single('f'), guard.scan(), (ctx) => {
      ctx.body = diskEcho((ctx as unknown as { file: Express.Multer.File }).file);
    });
    app.use(router.routes());
    return listening(app.listen(0, '127.0.0.1'), guard);
  },
};

describe.each(Object.entries(hosts))(
  'issue 11 class 4: sanitize on %s disk storage (guard.scan())',
  (_, host) => {
    it("'reencode': the temp file is replaced by the checked bytes; a BMP on disk becomes the PNG", async () => {
      const dir = fresh('disk');
      const matcher = new RecordingMatcher();
      const server = await host(dir, matcher);
      const photo = withJpegSegments(jpg(200, 200, 501), [exifSegment(1)]);
      const ok = await request(server).post('/upload').attach('f', photo, 'p.jpg');
      expect(ok.status).toBe(200);
      const scanned = matcher.calls[0]?.bytes as Buffer;
      expect(ok.body).toMatchObject({ size: scanned.length, onDisk: sha256(scanned) });
      const converted = await request(server).post('/upload').attach('f', bmp(), 'x.bmp');
      expect(converted.body).toMatchObject({
        mimetype: 'image/png',
        originalname: 'x.png',
        onDisk: sha256(matcher.calls[1]?.bytes as Buffer),
      });
      expect(readdirSync(dir)).toHaveLength(2); // replaced in place: no second file
    });

    it("'reencode': an image that cannot be decoded is 422 INVALID_IMAGE and leaves no file", async () => {
      const dir = fresh('fail');
      const matcher = new RecordingMatcher();
      const server = await host(dir, matcher);
      const res = await request(server).post('/upload').attach('f', shortBmp(), 'x.bmp');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(matcher.calls).toHaveLength(0);
      expect(readdirSync(dir)).toEqual([]);
    });
  },
);

describe('issue 11 class 4: sanitize in front of the host’s own parser', () => {
  it("Express: app.use(guard) then the route's multer gets the re-encoded file (the body is rebuilt)", async () => {
    const matcher = new RecordingMatcher();
    const guard = photodnaGuard({ matcher, sanitize: 'reencode' });
    const app = express();
    app.use(guard);
    app.post('/upload', multer().single('f'), (req, res) => {
      res.json({ sha: sha256(req.file?.buffer as Buffer), mimetype: req.file?.mimetype });
    });
    const server = app.listen(0, '127.0.0.1');
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await guard.close();
    });
    const photo = withJpegSegments(jpg(200, 200, 503), [exifSegment(1)]);
    const res = await request(server).post('/upload').attach('f', photo, 'p.jpg');
    expect(res.status).toBe(200);
    expect(res.body.sha).toBe(sha256(matcher.calls[0]?.bytes as Buffer));
    expect(res.body.sha).not.toBe(sha256(photo));
  });
});

describe('issue 11 class 4: sanitize and deferred scans', () => {
  const adapter = adapters[0] as (typeof adapters)[number];

  it("'reencode' with defer: the job holds the re-encoded bytes, which the worker checks", async () => {
    const matcher = new RecordingMatcher();
    const server = await adapter.start(
      { matcher, sanitize: 'reencode', defer: true, queue: { dir: fresh('queue') } },
      [{ path: '/upload' }],
      { global: true },
    );
    closers.push(() => server.close());
    const scans: ScanEvent[] = [];
    server.guard.on('scan', (e) => scans.push(e));
    const photo = withJpegSegments(jpg(200, 200, 502), [exifSegment(1)]);
    const res = await request(server.url).post('/upload').attach('f', photo, 'p.jpg');
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('pending');
    const handed = res.body.files[0].sha256 as string;
    expect(handed).not.toBe(sha256(photo));
    await until(() => scans.length === 1, 'the deferred scan');
    expect(scans[0]?.file.sha256).toBe(handed);
    expect(sha256(matcher.calls[0]?.bytes as Buffer)).toBe(handed);
  });
});

describe('issue 11 class 4: sanitize options', () => {
  it('is refused when not one of none, metadata, reencode (guard and route)', () => {
    expect(() =>
      photodnaGuard({ matcher: new RecordingMatcher(), sanitize: 'strip' as never }),
    ).toThrow(InvalidOptionsError);
    const guard = photodnaGuard({ matcher: new RecordingMatcher(), sanitize: 'metadata' });
    closers.push(() => guard.close());
    expect(() => guard.route({ sanitize: 'all' as never })).toThrow(/sanitize/);
    expect(() => guard.route({ sanitize: 'reencode' })).not.toThrow();
  });
});
