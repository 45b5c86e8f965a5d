import { createHash } from 'node:crypto';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { MatchEvent } from '../../src/index.js';
import { crafted } from '../fixtures/crafted.js';
import { hostile, png } from '../fixtures/images.js';
import { type Adapter, adapters, type Running } from '../helpers/adapters.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { RecordingMatcher } from '../helpers/matchers.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * Issue 11: each test is named after the class of attack it keeps closed, and runs on every
 * adapter (Express 4/5, Koa 2/3).
 */
const BIG_KNOWN = png(200, 200, 4242, 4 * 1024 * 1024);
const emu = useEmulator({ rateLimit: false, known: { images: [BIG_KNOWN] } });

describe.each(adapters)('$name', (adapter: Adapter) => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });
  async function start(options: Parameters<Adapter['start']>[0]) {
    const server = await adapter.start(options, [{ path: '/upload' }], { global: true });
    running.push(server);
    return server;
  }

  it.each(Object.entries(crafted))(
    'bounded validation: a crafted 4 MiB %s is 422 INVALID_IMAGE and never reaches the matcher',
    async (name, make) => {
      const matcher = new RecordingMatcher();
      const server = await start({ matcher });
      const res = await request(server.url).post('/upload').attach('f', make(), `a.${name}`);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(server.log.runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    },
  );

  it('oracle: a match is answered byte for byte like an unreadable image (status, body, headers)', async () => {
    const known = png(200, 200, 808);
    const matcher = new RecordingMatcher([sha256(known)]);
    const matches: string[] = [];
    const rejects: string[] = [];
    const server = await start({ matcher });
    server.guard.on('match', (e) => matches.push(e.file.sha256));
    server.guard.on('reject', (e) => rejects.push(e.code));
    const match = await request(server.url).post('/upload').attach('f', known, 'a.png');
    const broken = await request(server.url)
      .post('/upload')
      .attach('f', hostile.truncatedJpeg(), 'a.png');
    expect(match.status).toBe(422);
    expect(match.text).toBe(broken.text);
    expect(JSON.parse(match.text)).toEqual({
      error: { code: 'INVALID_IMAGE', message: 'The file is not a readable image.' },
    });
    const comparable = (headers: Record<string, string>) => {
      const { date: _date, ...rest } = headers;
      return rest;
    };
    expect(comparable(match.headers)).toEqual(comparable(broken.headers));
    // The match itself was handled: listeners ran, the handler did not, the host sees the real code.
    expect(matches).toEqual([sha256(known)]);
    expect(rejects).toEqual(['UPLOAD_REJECTED', 'INVALID_IMAGE']);
    expect(server.log.runs).toBe(0);
  });

  it("oracle: matchAnswer 'explicit' (e.g. on an internal route) answers 422 UPLOAD_REJECTED", async () => {
    const known = png(200, 200, 809);
    const matcher = new RecordingMatcher([sha256(known)]);
    const server = await adapter.start({ matcher }, [
      { path: '/internal', use: (g) => g.route({ matchAnswer: 'explicit' }) },
    ]);
    running.push(server);
    const res = await request(server.url).post('/internal').attach('f', known, 'a.png');
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error: { code: 'UPLOAD_REJECTED', message: 'The upload was rejected.' },
    });
    expect(server.log.runs).toBe(0);
  });

  it.each([
    ['a huge array index', 'a[30000000]'],
    ['an index one past the limit', 'a[101]'],
    ['deep nesting', 'a[b][c][d][e][f]'],
    ['a huge index deep inside', 'a[b][0][4294967294]'],
  ])(
    'inflation: a text field with %s is 413 LIMIT_EXCEEDED, never a huge req.body',
    async (_, name) => {
      const server = await start({ matcher: new RecordingMatcher() });
      const res = await request(server.url).post('/upload').field(name, 'x');
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
      expect(server.log.runs).toBe(0);
    },
  );

  it('inflation: indexes and nesting within the limits still reach req.body as multer builds them', async () => {
    const server = await start({ matcher: new RecordingMatcher() });
    const res = await request(server.url)
      .post('/upload')
      .field('a[1]', 'x')
      .field('b[c][d][e][f]', 'y')
      .attach('f', png(200, 200, 5), 'a.png');
    expect(res.status).toBe(200);
    expect(res.body.body).toEqual({ a: [null, 'x'], b: { c: { d: { e: { f: 'y' } } } } });
  });

  it('emulator: report() of a matched 4 MiB upload succeeds (the emulator accepts real report sizes)', async () => {
    const results: Array<{ statusCode: number }> = [];
    const server = await start(
      emu.options({
        reporter: {
          orgName: 'Example',
          reporterName: 'T&S',
          reporterEmail: 'ts@example.org',
          ncmecUser: 'u',
          ncmecPassword: 'p',
          isTest: true,
        },
        onMatch: async (event) => {
          results.push(await event.report());
        },
      }),
    );
    const res = await request(server.url).post('/upload').attach('f', BIG_KNOWN, 'big.png');
    expect(res.status).toBe(422);
    expect(results).toEqual([expect.objectContaining({ statusCode: 3000 })]);
    expect(server.log.runs).toBe(0);
  });

  const REPORTER = {
    orgName: 'Example',
    reporterName: 'T&S',
    reporterEmail: 'ts@example.org',
    ncmecUser: 'u',
    ncmecPassword: 'p',
    isTest: true,
  };

  it.each([
    ['a non-IP string', 'not-an-ip, 198.51.100.1', undefined],
    ['a spoofed IP', '203.0.113.9', '203.0.113.9'],
  ])(
    'evidence ip: with a bare trust-proxy setting, X-Forwarded-For %s is recorded as received, validated, and never breaks the report',
    async (_, forwardedFor, derived) => {
      const events: MatchEvent[] = [];
      const reports: Array<{ statusCode: number }> = [];
      const server = await adapter.start(
        emu.options({
          reporter: REPORTER,
          onMatch: async (event) => {
            events.push(event);
            reports.push(await event.report());
          },
        }),
        [{ path: '/upload' }],
        { global: true, trustProxy: true },
      );
      running.push(server);
      const res = await request(server.url)
        .post('/upload')
        .set('x-forwarded-for', forwardedFor)
        .attach('f', knownImage(), 'a.png');
      expect(res.status).toBe(422);
      expect(events[0]?.network).toEqual({
        peer: '127.0.0.1',
        forwardedFor,
        ...(derived === undefined ? {} : { derived }),
      });
      expect(events[0]?.ip).toBe(derived ?? '127.0.0.1');
      expect(reports).toEqual([expect.objectContaining({ statusCode: 3000 })]);
      const sent = emu.emulator.testReports.at(-1)?.body as { ReporteeIPAddress?: string };
      expect(sent.ReporteeIPAddress).toBe(derived ?? '127.0.0.1');
    },
  );
});
