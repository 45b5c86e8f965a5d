/**
 * The fields of the events SPEC 3.4 promises (and src/events.ts declares), each checked whole
 * against a real upload through the emulator: `scan` (facts, outcome, duration, cached,
 * trackingId), `reject`, `report` (filed and failed) and the evidence's `network` on a stored
 * quarantine record.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type {
  ErrorEvent,
  MatchEvent,
  QuarantineEvent,
  RejectEvent,
  ReportEvent,
  ScanEvent,
} from '../../src/index.js';
import { createFileQuarantineStore } from '../../src/quarantine.js';
import { png } from '../fixtures/images.js';
import { type Adapter, adapters, startPerTest } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

// A disk entry's host parser saves to the OS temp directory: nothing refused may stay there.
expectNoTempFiles();

const emu = useEmulator();
/** An emulator that takes one key only: any other is answered 401. */
const strict = useEmulator({ rateLimit: false, apiKey: 'the-only-key-issued-here' });
const scratch = mkdtempSync(join(tmpdir(), 'pdg-event-fields-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const REPORTER = {
  orgName: 'Example',
  reporterName: 'T&S',
  reporterEmail: 'ts@example.org',
  ncmecUser: 'ncmec-user',
  ncmecPassword: 'ncmec-secret-password-7311',
  isTest: true,
};

/**
 * `routePattern` behind `app.use(guard)` on `/upload`: Fastify routes before its hooks run; Hono
 * gives the guard's own pattern; Express and Koa have not routed yet.
 */
function globalPattern(adapter: Adapter): { routePattern?: string } {
  if (adapter.name.startsWith('fastify')) return { routePattern: '/upload' };
  if (adapter.name === 'hono4') return { routePattern: '/*' };
  return {};
}

describe.each([...adapters, ...scanAdapters])('$name', (adapter: Adapter) => {
  const start = startPerTest(adapter);
  const pattern = globalPattern(adapter);

  it('scan: the facts handed to the route, the outcome, a duration, cached on the second upload, the trackingId', async () => {
    const scans: ScanEvent[] = [];
    const server = await start(emu.options(), [{ path: '/upload' }], { global: true });
    server.guard.on('scan', (e) => scans.push(e));
    const image = png(240, 180, 7101);

    const first = await request(server.url).post('/upload').attach('f', image, 'a.png');
    expect(first.status).toBe(200);
    const callsBefore = emu.emulator.calls.length;
    const second = await request(server.url).post('/upload').attach('f', image, 'b.png');
    expect(second.status).toBe(200);

    expect(scans).toHaveLength(2);
    const [clean, hit] = scans as [ScanEvent, ScanEvent];
    const facts = {
      field: 'f',
      originalname: 'a.png',
      mimetype: 'image/png',
      size: image.length,
      width: 240,
      height: 180,
      sha256: sha256(image),
    };
    expect(clean).toEqual({
      file: facts,
      outcome: 'clean',
      durationMs: expect.any(Number),
      cached: false,
      trackingId: expect.stringMatching(/\S/),
      route: '/upload',
      ...pattern,
    });
    expect(Number.isFinite(clean.durationMs) && clean.durationMs >= 0).toBe(true);
    // The route saw the same facts and the same trackingId.
    expect(first.body.photodna.files[0]).toMatchObject({ ...facts, trackingId: clean.trackingId });
    // The second upload is answered from the cache: same answer, no new call.
    expect(hit).toEqual({
      ...clean,
      file: { ...facts, originalname: 'b.png' },
      durationMs: expect.any(Number),
      cached: true,
    });
    expect(emu.emulator.calls.length).toBe(callsBefore);
  });

  it("scan: a file the service could not check is 'unchecked', without a trackingId; its error event names the reason", async () => {
    const scans: ScanEvent[] = [];
    const errors: ErrorEvent[] = [];
    // A key the service refuses: 401 from the strict emulator.
    const server = await start(
      { apiKey: 'a-key-nobody-issued', baseUrl: strict.emulator.url, cache: false },
      [{ path: '/upload' }],
      { global: true },
    );
    server.guard.on('scan', (e) => scans.push(e)).on('error', (e) => errors.push(e));
    const image = png(200, 200, 7102);
    const res = await request(server.url).post('/upload').attach('f', image, 'a.png');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(scans).toEqual([
      {
        file: expect.objectContaining({ field: 'f', sha256: sha256(image) }),
        outcome: 'unchecked',
        durationMs: expect.any(Number),
        cached: false,
        route: '/upload',
        ...pattern,
      },
    ]);
    expect(errors).toEqual([
      expect.objectContaining({ stage: 'scan', route: '/upload', reason: expect.any(String) }),
    ]);
    expect(JSON.stringify(errors.map((e) => e.error.message))).not.toContain('a-key-nobody-issued');
  });

  it('reject: code, status and detail of the answer, the route, method and address, and the file that caused it', async () => {
    const rejects: RejectEvent[] = [];
    const server = await start(emu.options(), [{ path: '/upload' }], { global: true });
    server.guard.on('reject', (e) => rejects.push(e));
    const res = await request(server.url)
      .post('/upload?x=1')
      .attach('f', png(40, 30, 7103), 'tiny.png');
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('IMAGE_TOO_SMALL');
    expect(rejects).toEqual([
      {
        code: 'IMAGE_TOO_SMALL',
        status: 422,
        detail: expect.stringContaining('40x30'),
        route: '/upload',
        ...pattern,
        method: 'POST',
        ip: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$/),
        file: { field: 'f', originalname: 'tiny.png' },
      },
    ]);
    // The detail is for logs: the uploader's answer does not carry it.
    expect(JSON.stringify(res.body)).not.toContain('40x30');
  });

  it('report: a filed report is announced with its incident, route and the service status; a failed one with ok false and an error event that holds no password', async () => {
    const reports: ReportEvent[] = [];
    const errors: ErrorEvent[] = [];
    const matches: MatchEvent[] = [];
    const outcomes: Array<{ statusCode: number } | string> = [];
    const server = await start(
      emu.options({
        reporter: REPORTER,
        onMatch: async (event) => {
          matches.push(event);
          outcomes.push(await event.report());
          // A second report with a reporter field emptied: refused before anything is sent.
          outcomes.push(
            await event.report({ reporterEmail: '' }, { force: true }).then(
              () => 'sent',
              (error: Error) => error.message,
            ),
          );
        },
      }),
      [{ path: '/upload' }],
      { global: true },
    );
    server.guard.on('report', (e) => reports.push(e)).on('error', (e) => errors.push(e));
    const res = await request(server.url).post('/upload').attach('f', knownImage(), 'a.png');
    expect(res.status).toBe(422);
    const [match] = matches as [MatchEvent];
    expect(outcomes[0]).toEqual(expect.objectContaining({ statusCode: 3000 }));
    expect(outcomes[1]).toMatch(/reporterEmail/);
    expect(reports).toEqual([
      { incident: match.id, route: '/upload', ok: true, statusCode: 3000 },
      { incident: match.id, route: '/upload', ok: false },
    ]);
    expect(errors).toEqual([
      expect.objectContaining({ stage: 'report', route: '/upload', file: match.file }),
    ]);
    const said = JSON.stringify([outcomes, errors.map((e) => e.error.message), reports]);
    expect(said).not.toContain(REPORTER.ncmecPassword);
  });

  it('quarantine record: the network evidence keeps the peer, both forwarding headers as received, and the derived address', async () => {
    const stored: QuarantineEvent[] = [];
    const dir = mkdtempSync(join(scratch, `${adapter.name}-q-`));
    const server = await start(
      emu.options({ policy: 'quarantine', quarantine: { dir } }),
      [{ path: '/upload' }],
      { global: true, trustProxy: true },
    );
    server.guard.on('quarantine', (e) => stored.push(e));
    const forwardedFor = '198.51.100.23';
    const forwarded = 'for=198.51.100.23;proto=https;by=203.0.113.43';
    const res = await request(server.url)
      .post('/upload')
      .set('x-forwarded-for', forwardedFor)
      .set('forwarded', forwarded)
      .attach('f', knownImage(), 'a.png');
    expect(res.status).toBe(422);
    expect(stored).toHaveLength(1);
    const { record } = stored[0] as QuarantineEvent;
    expect(record.network).toEqual({
      peer: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$/),
      forwardedFor,
      forwarded,
      derived: forwardedFor,
    });
    // What the store kept on disk is what the event said.
    const kept = await createFileQuarantineStore({ dir }).get(record.id);
    expect(kept.record.network).toEqual(record.network);
  });
});
