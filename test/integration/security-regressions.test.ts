import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import multer from 'multer';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { decodedPathOf, pathOf } from '../../src/adapters/path.js';
import { GuardEvents } from '../../src/events.js';
import { photodnaGuard } from '../../src/index.js';
import type { Matcher } from '../../src/types.js';
import { png } from '../fixtures/images.js';
import { type Adapter, adapters, type Running } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { abortMidUpload, multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

// A disk entry's host parser saves to the OS temp directory: nothing refused may stay there.
expectNoTempFiles();

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Each test is named after the hole it keeps closed. */
const scratch = mkdtempSync(join(tmpdir(), 'pdg-regress-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each([...adapters, ...scanAdapters])('$name', (adapter: Adapter) => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });
  async function start(options: Parameters<Adapter['start']>[0], global = true) {
    const server = await adapter.start(options, [{ path: '/upload' }, { path: '/Evidence/x' }], {
      global,
    });
    running.push(server);
    return server;
  }

  it.each([
    ['a malformed parameter', 'multipart/form-data; boundary=XyZ; foo'],
    ['a trailing semicolon', 'multipart/form-data; boundary=XyZ;'],
  ])(
    'bypass: a multipart Content-Type with %s is 400, never "clean with no files"',
    async (_, type) => {
      const matcher = new RecordingMatcher();
      const server = await start({ matcher });
      const body = multipartBody('XyZ', [
        { name: 'f', filename: 'a.png', type: 'image/png', data: png() },
      ]);
      const res = await request(server.url).post('/upload').set('content-type', type).send(body);
      if (adapter.name === 'fastify5-multipart-body') {
        // This parser reads such a body before the guard's hook (`attachFieldsToBody`): what it
        // read is what the guard checked. Where the guard runs `saveRequestFiles()`, its own
        // parser's verdict on the same bytes refuses it, as everywhere.
        expect(res.status).toBe(200);
        expect(res.body.photodna.files).toMatchObject([{ field: 'f', isMatch: false }]);
        expect(matcher.calls).toHaveLength(1);
        return;
      }
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
      expect(server.log.runs).toBe(0);
    },
  );

  it.each([
    ['a list of types, multipart last', 'text/plain, multipart/form-data; boundary=XyZ'],
    ['multipart outside the type', 'text/plain; x=multipart; boundary=XyZ'],
  ])(
    'bypass: a Content-Type with %s (read as multipart by formData() or formidable) is refused before the handler',
    async (_, type) => {
      const matcher = new RecordingMatcher([sha256(png(200, 200, 7))]);
      const server = await start({ matcher });
      const body = multipartBody('XyZ', [
        { name: 'f', filename: 'a.png', type: 'image/png', data: png(200, 200, 7) },
      ]);
      const res = await request(server.url).post('/upload').set('content-type', type).send(body);
      expect(server.log.runs).toBe(0);
      if (res.status === 415) {
        // Fastify itself: no content-type parser takes a list of types.
        expect(adapter.name.startsWith('fastify')).toBe(true);
        return;
      }
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
    },
  );

  it('bypass: a matcher answer that is not a MatchResult is never read as clean, nor cached', async () => {
    let calls = 0;
    const matcher: Matcher = {
      match: async () => {
        calls += 1;
        return { IsMatch: true } as never; // e.g. the raw PhotoDNA JSON passed through
      },
    };
    const errors: string[] = [];
    const server = await start({ matcher });
    server.guard.on('error', (e) => errors.push(`${e.stage}:${e.reason}`));
    const bytes = png(200, 200, 4242);
    const first = await request(server.url).post('/upload').attach('f', bytes, 'a.png');
    const second = await request(server.url).post('/upload').attach('f', bytes, 'a.png');
    expect([first.status, second.status]).toEqual([503, 503]);
    expect(first.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(server.log.runs).toBe(0);
    expect(calls).toBe(2);
    expect(errors).toEqual(['scan:malformed-response', 'scan:malformed-response']);
  });

  it('crash: a report() that fails raises no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const bytes = png(200, 200, 777);
      const matcher = new RecordingMatcher([
        (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'),
      ]);
      let caught = '';
      const server = await start({
        matcher,
        onMatch: async (event) => {
          await event.report().catch((error: Error) => {
            caught = error.message;
          });
        },
      });
      expect((await request(server.url).post('/upload').attach('f', bytes, 'a.png')).status).toBe(
        422,
      );
      await vi.waitFor(() => expect(caught).not.toBe(''), { timeout: 15_000, interval: 10 });
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('evasion: a match is still quarantined and announced when the uploader disconnects before the answer', async () => {
    const known = png(200, 200, 31337);
    const { createHash } = await import('node:crypto');
    const knownSha = createHash('sha256').update(known).digest('hex');
    // The known file matches at once; the other one takes a while, and the uploader leaves.
    const matcher: Matcher = {
      match: async ({ file, signal }) => {
        if (file.sha256 !== knownSha) {
          // Answers only when the guard aborts the call: the uploader leaves before any answer.
          await new Promise((_, reject) => {
            if (signal.aborted) reject(signal.reason);
            signal.addEventListener('abort', () => reject(signal.reason));
          });
        }
        const isMatch = file.sha256 === knownSha;
        return {
          isMatch,
          trackingId: 't',
          matchFlags: isMatch ? [{ source: 'Test', violations: ['A1'] }] : [],
        };
      },
    };
    const dir = mkdtempSync(join(scratch, `${adapter.name}-evasion-`));
    const server = await start({ matcher, policy: 'quarantine', quarantine: { dir } });
    const matches: string[] = [];
    server.guard.on('match', (e) => matches.push(e.file.sha256));
    const boundary = 'evasion';
    const body = multipartBody(boundary, [
      { name: 'a', filename: 'a.png', type: 'image/png', data: known },
      { name: 'b', filename: 'b.png', type: 'image/png', data: png(200, 200, 31338) },
    ]);
    await abortMidUpload(server.port, '/upload', body, boundary, body.length);
    // The match is handled after the uploader left: wait for it, up to a generous deadline.
    await vi.waitFor(
      () => {
        expect(matches).toEqual([knownSha]);
        expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(1);
      },
      { timeout: 15_000, interval: 20 },
    );
    expect(server.log.runs).toBe(0);
  });

  it('path rules: compare case as the router does (Express and Koa ignore it; Fastify and Hono do not)', async () => {
    const bytes = png(200, 200, 99);
    const matcher = new RecordingMatcher([
      (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'),
    ]);
    const dir = mkdtempSync(join(scratch, `${adapter.name}-case-`));
    const server = await start({
      matcher,
      policy: [{ path: '/evidence', policy: 'quarantine' }],
      quarantine: { dir },
    });
    const res = await request(server.url).post('/Evidence/x').attach('f', bytes, 'a.png');
    expect(res.status).toBe(422);
    // To Express and Koa `/Evidence/x` is under `/evidence`: its rule quarantines. To Fastify and
    // Hono it is not: the fallback blocks, nothing stored. A Web Request whose host did not say
    // (`info.caseSensitive`) takes the stricter reading: quarantine.
    const underRule = !/^(fastify|hono)/.test(adapter.name);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(underRule ? 1 : 0);
  });

  it('rejectionBody that returns undefined: the standard JSON body, the status kept', async () => {
    const server = await start({ matcher: new RecordingMatcher(), rejectionBody: () => undefined });
    const res = await request(server.url).post('/upload').attach('f', png(100, 100), 'a.png');
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ error: { code: 'IMAGE_TOO_SMALL', message: expect.any(String) } });
  });
});

describe('Express only', () => {
  it('misconfiguration: guard.scan() before multer fails closed instead of passing unread files; events like any 503: error then one reject', async () => {
    const guard = photodnaGuard({ matcher: new RecordingMatcher() });
    const errors: string[] = [];
    const sequence: string[] = [];
    guard.on('error', (e) => errors.push(`${e.stage}:${e.reason}`));
    guard
      .on('error', (e) => sequence.push(`error:${e.stage}`))
      .on('reject', (e) => sequence.push(`reject:${e.code}:${e.status}`));
    let runs = 0;
    const app = express();
    app.post('/x', guard.scan(), multer().single('f'), (_req, res) => {
      runs += 1;
      res.json({ ok: true });
    });
    const res = await request(app).post('/x').attach('f', png(), 'a.png');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(errors).toEqual(['scan:not-configured']);
    expect(sequence).toEqual(['error:scan', 'reject:SCAN_UNAVAILABLE:503']);
    expect(runs).toBe(0);
    await guard.close();
  });

  it('leak: the files of a rejected request are no longer on req when the response finishes', async () => {
    const guard = photodnaGuard({ matcher: new RecordingMatcher() });
    let seen: unknown = 'not set';
    const app = express();
    app.use((req, res, next) => {
      res.on('finish', () => {
        seen = req.files;
      });
      next();
    });
    app.post('/x', guard.array('f'), (_req, res) => res.json({}));
    const res = await request(app)
      .post('/x')
      .attach('f', png(), 'a.png')
      .attach('f', png(100, 100), 'b.png');
    expect(res.status).toBe(422);
    expect(seen).toEqual([]);
    await guard.close();
  });

  // multer resets only the property its selection writes (`req.files` for any/array/fields,
  // nothing for single): a file a middleware left on the other one survives the guard's parse.
  // It is checked like the uploaded ones, so it reaches neither the handler nor, under
  // `app.use(guard)`, the body replayed for the host's parser.
  it.each([
    ['guard.array()', 'route'],
    ['app.use(guard) then multer().any()', 'global'],
  ])('bypass: a file a middleware put on req.file before %s is checked too', async (_, mount) => {
    const known = png(160, 120, 91);
    const guard = photodnaGuard({ matcher: new RecordingMatcher([sha256(known)]) });
    let runs = 0;
    const app = express();
    app.use((req, _res, next) => {
      (req as { file?: unknown }).file = {
        fieldname: 'avatar',
        originalname: 'a.png',
        encoding: '7bit',
        mimetype: 'image/png',
        size: known.length,
        buffer: known,
      };
      next();
    });
    const handler: express.RequestHandler = (_req, res) => {
      runs += 1;
      res.json({ ok: true });
    };
    if (mount === 'route') app.post('/x', guard.array('photos'), handler);
    else app.use(guard).post('/x', multer().any(), handler);
    const res = await request(app).post('/x').attach('photos', png(), 'b.png');
    expect(res.status).toBe(422);
    expect(runs).toBe(0);
    await guard.close();
  });
});

describe('pieces', () => {
  it('pathOf: pathname of origin- and absolute-form targets, without the query', () => {
    expect(pathOf('/a/b?x=1')).toBe('/a/b');
    expect(pathOf('http://example.org/evidence/1?x')).toBe('/evidence/1');
    expect(pathOf(undefined)).toBe('/');
  });

  it("decodedPathOf: decoded as Fastify's router decodes, reserved characters kept encoded", () => {
    expect(decodedPathOf('/%65vidence/%31?x=%65', {})).toBe('/evidence/1');
    expect(decodedPathOf('/a%2Fb%3F%23%25%2525', {})).toBe('/a%2Fb%3F%23%25%2525');
    expect(decodedPathOf('/caf%C3%A9', {})).toBe('/café');
    expect(decodedPathOf('/%65/%ff', {})).toBe('/%65/%ff'); // malformed: routed nowhere
    expect(decodedPathOf('//a//b/;x/', {})).toBe('//a//b/;x/');
    const lenient = {
      ignoreDuplicateSlashes: true,
      ignoreTrailingSlash: true,
      useSemicolonDelimiter: true,
    };
    expect(decodedPathOf('//a//b/;x/', lenient)).toBe('/a/b');
    expect(decodedPathOf('http://h/a/', lenient)).toBe('/a');
  });

  it('GuardEvents.off removes a once listener that has not fired', () => {
    const events = new GuardEvents();
    const seen: string[] = [];
    const listener = (e: { code: string }) => seen.push(e.code);
    events.once('reject', listener);
    events.off('reject', listener);
    events.emit('reject', {
      code: 'FILE_TOO_LARGE',
      status: 413,
      route: '/',
      method: 'POST',
      ip: '',
    });
    expect(seen).toEqual([]);
    expect(events.listenerCount('reject')).toBe(0);
  });
});
