import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { MatchEvent, QuarantineEvent, ReportResult } from '../../src/index.js';
import { jpg, png } from '../fixtures/images.js';
import { type Adapter, adapters, startPerTest } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

// A disk entry's host parser saves to the OS temp directory: nothing refused may stay there.
expectNoTempFiles();

const emu = useEmulator();
const scratch = mkdtempSync(join(tmpdir(), 'pdg-policies-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Words a rejection must never contain: the uploader cannot learn that a hash matched. */
const REVEALING = /match|hash|photodna|csam|ncmec|known|abuse|quarantin|report/i;

describe.each([...adapters, ...scanAdapters])('$name', (adapter: Adapter) => {
  const start = startPerTest(adapter);
  const quarantineDir = () => mkdtempSync(join(scratch, `${adapter.name}-q-`));

  describe("policy 'block'", () => {
    it('rejects a known image with 422 INVALID_IMAGE (a match is disguised by default) that reveals nothing; listeners and onMatch run first', async () => {
      const order: string[] = [];
      const events: MatchEvent[] = [];
      const server = await start(
        emu.options({
          onMatch: async (event) => {
            await new Promise((r) => setTimeout(r, 50));
            order.push(`onMatch:${event.policy}`);
          },
        }),
        [{ path: '/upload' }],
        { global: true },
      );
      server.guard.on('match', (event) => {
        events.push(event);
        order.push('match-event');
      });
      const bytes = knownImage();
      const res = await request(server.url)
        .post('/upload')
        .set('user-agent', 'policy-test/1.0')
        .attach('photo', bytes, { filename: 'holiday.png', contentType: 'image/png' });
      order.push('response');
      expect(res.status).toBe(422);
      expect(res.body).toEqual({
        error: { code: 'INVALID_IMAGE', message: 'The file is not a readable image.' },
      });
      expect(JSON.stringify(res.body)).not.toMatch(REVEALING);
      expect(JSON.stringify(res.headers)).not.toMatch(REVEALING);
      expect(server.log.runs).toBe(0);
      expect(order).toEqual(['match-event', 'onMatch:block', 'response']);
      const [event] = events;
      expect(event).toMatchObject({
        route: '/upload',
        method: 'POST',
        ip: '127.0.0.1',
        userAgent: 'policy-test/1.0',
        policy: 'block',
        file: {
          field: 'photo',
          originalname: 'holiday.png',
          mimetype: 'image/png',
          size: bytes.length,
        },
        matchFlags: [{ source: 'Test', violations: expect.arrayContaining([expect.any(String)]) }],
      });
      expect(event?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(event?.trackingId).toMatch(/\S/);
      expect(event?.receivedAt).toBeInstanceOf(Date);
      expect(event?.quarantineId).toBeUndefined();
      expect(event?.buffer.equals(bytes)).toBe(true);
    });

    it('rejects a request whole when any one of several files matches', async () => {
      const server = await start(emu.options(), [{ path: '/upload' }], { global: true });
      const res = await request(server.url)
        .post('/upload')
        .attach('a', png(200, 200, 11), 'a.png')
        .attach('b', knownImage(), 'b.png')
        .attach('c', jpg(200, 200, 12), 'c.jpg');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(server.log.runs).toBe(0);
    });

    it('a clean image passes with req.photodna clean', async () => {
      const server = await start(emu.options(), [{ path: '/upload' }], { global: true });
      const res = await request(server.url)
        .post('/upload')
        .attach('a', png(200, 200, 13), 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('clean');
      expect(res.body.photodna.files[0].trackingId).toMatch(/\S/);
    });
  });

  describe("policy 'flag'", () => {
    it('lets the request through with req.photodna = match, withholding the matched bytes', async () => {
      const server = await start(emu.options({ policy: 'flag' }), [{ path: '/upload' }], {
        global: true,
      });
      const res = await request(server.url)
        .post('/upload')
        .attach('clean', png(200, 200, 21), 'clean.png')
        .attach('bad', knownImage(), 'bad.png');
      expect(res.status).toBe(200);
      expect(server.log.runs).toBe(1);
      expect(res.body.photodna.status).toBe('match');
      const flagged = res.body.photodna.files.find((f: { field: string }) => f.field === 'bad');
      expect(flagged).toMatchObject({ isMatch: true, matchFlags: [{ source: 'Test' }] });
      // The handler gets the clean file's bytes, never the matched one's.
      expect(res.body.files.map((f: { fieldname: string }) => f.fieldname)).toEqual(['clean']);
    });
  });

  describe("policy 'quarantine'", () => {
    it('stores the file and a record privately and durably before answering 422', async () => {
      const dir = quarantineDir();
      const quarantined: QuarantineEvent[] = [];
      const matches: MatchEvent[] = [];
      const server = await start(
        emu.options({ policy: 'quarantine', quarantine: { dir } }),
        [{ path: '/upload' }],
        { global: true, trustProxy: true },
      );
      server.guard.on('quarantine', (e) => quarantined.push(e)).on('match', (e) => matches.push(e));
      const bytes = knownImage();
      const res = await request(server.url)
        .post('/upload')
        .set('x-forwarded-for', '203.0.113.7')
        .set('user-agent', 'q-test')
        .attach('evidence', bytes, {
          filename: '../../../etc/passwd.png',
          contentType: 'image/png',
        });
      // Checked at once: the write finished before the response went out.
      const files = readdirSync(dir);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(JSON.stringify(res.body)).not.toMatch(REVEALING);
      expect(server.log.runs).toBe(0);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(files.length).toBeGreaterThanOrEqual(2);
      for (const name of files) {
        expect(name).not.toContain('passwd');
        expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
      }
      const [record] = quarantined.map((q) => q.record);
      expect(record).toMatchObject({
        route: '/upload',
        method: 'POST',
        ip: '203.0.113.7',
        userAgent: 'q-test',
        field: 'evidence',
        originalname: 'passwd.png',
        mimetype: 'image/png',
        size: bytes.length,
        policy: 'quarantine',
        report: { status: 'not-reported' },
      });
      const preserved =
        new Date(record?.preserveUntil ?? 0).getTime() -
        new Date(record?.receivedAt ?? 0).getTime();
      expect(Math.round(preserved / 86_400_000)).toBe(365);
      expect(matches[0]?.quarantineId).toBe(record?.id);
      const stored = files.find((n) => n.endsWith('.json'));
      expect(JSON.parse(readFileSync(join(dir, stored as string), 'utf8')).sha256).toBe(
        record?.sha256,
      );
      const image = files.find((n) => !n.endsWith('.json'));
      expect(readFileSync(join(dir, image as string)).equals(bytes)).toBe(true);
    });

    it('answers 503 SCAN_UNAVAILABLE (like an outage) when the store cannot write; events: error, match, then one reject', async () => {
      const blocker = join(scratch, `${adapter.name}-not-a-dir`);
      writeFileSync(blocker, 'x');
      const errors: string[] = [];
      const server = await start(
        emu.options({ policy: 'quarantine', quarantine: { dir: join(blocker, 'q') } }),
        [{ path: '/upload' }],
        { global: true },
      );
      const sequence: string[] = [];
      server.guard.on('error', (e) => errors.push(`${e.stage}:${e.reason}`));
      server.guard
        .on('error', (e) => sequence.push(`error:${e.stage}`))
        .on('match', () => sequence.push('match'))
        .on('reject', (e) => sequence.push(`reject:${e.code}:${e.status}`));
      const res = await request(server.url).post('/upload').attach('f', knownImage(), 'f.png');
      expect(res.status).toBe(503);
      expect(sequence).toEqual(['error:quarantine', 'match', 'reject:SCAN_UNAVAILABLE:503']);
      expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(errors).toContain('quarantine:store-failure');
      expect(server.log.runs).toBe(0);
    });

    it('report() files an NCMEC test report with every field, once, and the record shows it', async () => {
      const dir = quarantineDir();
      const results: ReportResult[] = [];
      const before = emu.emulator.testReports.length;
      const server = await start(
        emu.options({
          policy: 'quarantine',
          quarantine: { dir },
          reporter: {
            orgName: 'Example Forum',
            reporterName: 'Trust & Safety',
            reporterEmail: 'safety@example.org',
            ncmecUser: 'esp-user',
            ncmecPassword: 'esp-secret',
            isTest: true,
          },
          onMatch: async (event) => {
            results.push(await event.report({ additionalInfo: 'found by photodna-guard' }));
            results.push(await event.report()); // the second call returns the first result
          },
        }),
        [{ path: '/upload' }],
        { global: true },
      );
      const bytes = knownImage();
      const res = await request(server.url).post('/upload').attach('f', bytes, 'f.png');
      expect(res.status).toBe(422);
      expect(results).toHaveLength(2);
      expect(results[1]).toEqual(results[0]);
      expect(emu.emulator.testReports.length - before).toBe(1);
      const sent = emu.emulator.testReports.at(-1);
      expect(sent?.ncmecUser).toBe('esp-user');
      expect(sent?.body).toMatchObject({
        OrgName: 'Example Forum',
        ReporterName: 'Trust & Safety',
        ReporterEmail: 'safety@example.org',
        ReporteeIPAddress: '127.0.0.1',
        AdditionalMetadata: [{ Key: 'IsTest', Value: 'true' }],
        ViolationContentCollection: [
          {
            Value: bytes.toString('base64'),
            UploadIpAddress: '127.0.0.1',
            AdditionalMetadata: expect.arrayContaining([
              { Key: 'viewedByEsp', Value: 'false' },
              { Key: 'additionalInfo', Value: 'found by photodna-guard' },
            ]),
          },
        ],
      });
      const recordFile = readdirSync(dir).find((n) => n.endsWith('.json'));
      const record = JSON.parse(readFileSync(join(dir, recordFile as string), 'utf8'));
      expect(record.report).toMatchObject({
        status: 'reported',
        trackingId: results[0]?.trackingId,
        isTest: true,
      });
    });
  });

  describe('policy choice', () => {
    it('per route (guard.route), by function, and by path rules', async () => {
      const dir = quarantineDir();
      const server = await start(
        emu.options({
          policy: [
            { path: '/chat', policy: 'flag' },
            { path: /^\/evidence\//, policy: 'quarantine' },
          ],
          quarantine: { dir },
        }),
        [
          { path: '/chat/room1' },
          { path: '/evidence/x' },
          { path: '/chatroom' },
          { path: '/route-flag', use: (g) => g.route({ policy: 'flag' }).single('f') },
          { path: '/by-fn', use: (g) => g.route({ policy: () => 'flag' as const }) },
        ],
      );
      const send = (path: string) =>
        request(server.url).post(path).attach('f', knownImage(), 'f.png');
      // No global guard here: the path rules apply through guard.route(...) only where mounted.
      const globalServer = await start(
        emu.options({
          policy: [
            { path: '/chat', policy: 'flag' },
            { path: /^\/evidence\//, policy: 'quarantine' },
          ],
          quarantine: { dir },
        }),
        [{ path: '/chat/room1' }, { path: '/evidence/x' }, { path: '/chatroom' }],
        { global: true },
      );
      const sendGlobal = (path: string) =>
        request(globalServer.url).post(path).attach('f', knownImage(), 'f.png');
      expect((await sendGlobal('/chat/room1')).status).toBe(200);
      expect((await sendGlobal('/chatroom')).status).toBe(422); // not covered by '/chat': blocked
      const before = readdirSync(dir).length;
      expect((await sendGlobal('/evidence/x')).status).toBe(422);
      expect(readdirSync(dir).length).toBeGreaterThan(before);
      const flagged = await send('/route-flag');
      expect(flagged.status).toBe(200);
      expect(flagged.body.photodna.status).toBe('match');
      expect(flagged.body.file).toBeUndefined();
      expect((await send('/by-fn')).status).toBe(200);
    });
  });

  describe('hooks that fail', () => {
    it('an onMatch that throws leaves the decision intact and emits an error event', async () => {
      const errors: string[] = [];
      const server = await start(
        emu.options({
          onMatch: () => {
            throw new Error('hook bug');
          },
        }),
        [{ path: '/upload' }],
        { global: true },
      );
      server.guard.on('error', (e) => errors.push(`${e.stage}:${e.error.message}`));
      const res = await request(server.url).post('/upload').attach('f', knownImage(), 'f.png');
      expect(res.status).toBe(422);
      expect(errors).toEqual(['hook:hook bug']);
    });

    it('an onMatch that hangs is cut off after hookTimeoutMs with the decision intact', async () => {
      const errors: string[] = [];
      const server = await start(
        emu.options({
          policy: 'flag',
          hookTimeoutMs: 200,
          onMatch: () => new Promise<void>(() => {}),
        }),
        [{ path: '/upload' }],
        { global: true },
      );
      server.guard.on('error', (e) => errors.push(e.stage));
      const started = Date.now();
      const res = await request(server.url).post('/upload').attach('f', knownImage(), 'f.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('match');
      expect(Date.now() - started).toBeLessThan(2000);
      expect(errors).toEqual(['hook']);
    });
  });
});
