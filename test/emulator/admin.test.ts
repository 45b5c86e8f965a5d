import { describe, expect, it } from 'vitest';
import { testImages } from '../../src/emulator/index.js';
import { png } from '../fixtures/images.js';
import { call, emulator, matchImage, PATHS, postJson } from './helpers.js';

const admin = (path: string) => `/__emulator${path}`;
const CREDENTIALS = { 'x-usr': 'u', 'x-pwd': 'p' };
const auth = (emu: { adminToken: string }) => ({ authorization: `Bearer ${emu.adminToken}` });

describe('admin routes', () => {
  it('GET /calls lists every API call in arrival order, to the admin token', async () => {
    const emu = await emulator();
    await matchImage(emu, png(), 'image/png', PATHS.v1);
    await call(emu, PATHS.v2, { body: png(), contentType: 'image/png', key: null });
    const answer = await call(emu, admin('/calls'), {
      method: 'GET',
      key: null,
      headers: auth(emu),
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual([
      expect.objectContaining({
        operation: 'match-v1',
        httpStatus: 200,
        statusCode: 3000,
        isMatch: false,
        contentType: 'image/png',
      }),
      expect.objectContaining({ operation: 'match-v2', httpStatus: 401 }),
    ]);
    expect(answer.json[0].at).toBeLessThanOrEqual(answer.json[1].at);
  });

  it('GET /reports lists reports and test reports apart', async () => {
    const emu = await emulator();
    const body = {
      OrgName: 'o',
      ReporterName: 'r',
      ReporterEmail: 'r@example.com',
      IncidentTime: '2024-01-01T00:00:00Z',
      ReporteeName: '',
      ReporteeIPAddress: '::1',
      ViolationContentCollection: [{ Name: 'a.png', Value: png().toString('base64') }],
    };
    await postJson(emu, PATHS.report, body, CREDENTIALS);
    await postJson(
      emu,
      PATHS.report,
      { ...body, AdditionalMetadata: [{ Key: 'IsTest', Value: 'true' }] },
      CREDENTIALS,
    );
    const answer = await call(emu, admin('/reports'), {
      method: 'GET',
      key: null,
      headers: auth(emu),
    });
    expect(answer.json.reports).toHaveLength(1);
    expect(answer.json.testReports).toHaveLength(1);
    expect(answer.json.testReports[0]).toMatchObject({
      isTest: true,
      ncmecUser: 'u',
      ncmecPasswordPresent: true,
    });
    expect(answer.text).not.toContain('"p"');
  });

  it('POST /faults sets the sequence, the error rate and the latency', async () => {
    const emu = await emulator({ rateLimit: false });
    const set = await postJson(
      emu,
      admin('/faults'),
      {
        sequence: [
          { type: 'status', status: 503, retryAfter: 2 },
          { type: 'code', code: 3004 },
        ],
        latencyMs: 50,
      },
      auth(emu),
    );
    expect(set.status).toBe(200);
    expect(set.json).toEqual({ pending: 2, errorRate: null, latencyMs: 50 });
    const first = await matchImage(emu, png());
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('2');
    expect((await matchImage(emu, png())).json.Status.Code).toBe(3004);

    await postJson(
      emu,
      admin('/faults'),
      {
        errorRate: { rate: 1, fault: { type: 'malformed' } },
        latencyMs: 0,
      },
      auth(emu),
    );
    const malformed = await matchImage(emu, png());
    expect(malformed.status).toBe(200);
    expect(malformed.json).toBeUndefined(); // not JSON
    await postJson(emu, admin('/faults'), { errorRate: null }, auth(emu));
    expect((await matchImage(emu, png())).json.Status.Code).toBe(3000);

    const view = await call(emu, admin('/faults'), {
      method: 'GET',
      key: null,
      headers: auth(emu),
    });
    expect(view.json).toEqual({ pending: 0, errorRate: null, latencyMs: 0 });
  });

  it('POST /faults replaces the queue: an empty sequence clears it', async () => {
    const emu = await emulator({ faults: [{ type: 'hang' }] });
    await postJson(emu, admin('/faults'), { sequence: [] }, auth(emu));
    expect(emu.faults.pending).toBe(0);
    expect((await matchImage(emu, png())).status).toBe(200);
  });

  it('POST /faults validates its body with 400', async () => {
    const emu = await emulator();
    const bodies = [
      { sequence: [{ type: 'explode' }] },
      { sequence: [{ type: 'status', status: 200 }] },
      { errorRate: { rate: 2, fault: { type: 'reset' } } },
      { latencyMs: -1 },
      { unknownKey: true },
      [],
    ];
    for (const body of bodies) {
      const answer = await postJson(emu, admin('/faults'), body, auth(emu));
      expect(answer.status).toBe(400);
      expect(answer.json.error.code).toBe('INVALID_BODY');
    }
    const notJson = await call(emu, admin('/faults'), {
      body: '{',
      contentType: 'application/json',
      key: null,
      headers: auth(emu),
    });
    expect(notJson.status).toBe(400);
    expect(emu.faults.pending).toBe(0);
  });

  it('POST /reset clears calls, reports, faults, latency and rate-limit windows', async () => {
    const emu = await emulator({ latencyMs: 1_000 });
    await Promise.all(Array.from({ length: 6 }, () => matchImage(emu, png())));
    emu.faults.push({ type: 'status', status: 500 });
    emu.faults.setErrorRate(1, { type: 'reset' });
    const reset = await call(emu, admin('/reset'), {
      key: null,
      headers: auth(emu),
      body: '{}',
      contentType: 'application/json',
    });
    expect(reset.status).toBe(200);
    expect(emu.calls).toHaveLength(0);
    expect(emu.faults.pending).toBe(0);
    const started = Date.now();
    const after = await matchImage(emu, png());
    expect(after.status).toBe(200);
    // With the latency kept, the answer would take a second.
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('reset() does what POST /reset does, for a host that shares one emulator between tests', async () => {
    const emu = await emulator();
    const started = Date.now();
    const burst = await Promise.all(Array.from({ length: 6 }, () => matchImage(emu, png())));
    expect(burst.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 429]);
    const report = {
      OrgName: 'o',
      ReporterName: 'r',
      ReporterEmail: 'r@example.com',
      IncidentTime: '2024-01-01T00:00:00Z',
      ReporteeName: '',
      ViolationContentCollection: [{ Name: 'a.png', Value: png().toString('base64') }],
    };
    await postJson(emu, PATHS.report, report, CREDENTIALS);
    expect(emu.reports).toHaveLength(1);
    emu.faults.push({ type: 'status', status: 500 });
    emu.faults.setErrorRate(1, { type: 'reset' });
    emu.setLatency(1_000);

    emu.reset();
    expect(emu.calls).toHaveLength(0);
    expect(emu.reports).toHaveLength(0);
    expect(emu.faults.pending).toBe(0);
    // The v2 window was full a moment ago: five more pass only because reset() emptied it, and
    // at once only because it removed the fault, the error rate and the latency.
    const after = await Promise.all(Array.from({ length: 5 }, () => matchImage(emu, png())));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(after.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
  });

  it('GET /test-images lists the images and GET /test-images/<name> serves their bytes', async () => {
    const emu = await emulator();
    const list = await call(emu, admin('/test-images'), {
      method: 'GET',
      key: null,
      headers: auth(emu),
    });
    const images = testImages();
    expect(list.json).toEqual(
      images.map(({ name, sha256 }) => ({ name, sha256, path: `/__emulator/test-images/${name}` })),
    );
    for (const image of images) {
      const response = await fetch(`${emu.url}/__emulator/test-images/${image.name}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await response.arrayBuffer()).equals(image.bytes)).toBe(true);
    }
    for (const bad of ['nope.png', '..%2F..%2Fpackage.json', '%E0%A4%A']) {
      expect((await fetch(`${emu.url}/__emulator/test-images/${bad}`)).status).toBe(404);
    }
    expect(emu.calls).toHaveLength(0);
  });

  it('answers 404 for unknown admin routes', async () => {
    const emu = await emulator();
    expect(
      (await call(emu, admin('/nope'), { method: 'GET', key: null, headers: auth(emu) })).status,
    ).toBe(404);
    expect(
      (
        await call(emu, admin('/calls'), {
          key: null,
          headers: auth(emu),
          body: '{}',
          contentType: 'application/json',
        })
      ).status,
    ).toBe(404);
  });

  describe('open to any web page (issue 11, class 10)', () => {
    it('emulator: admin and log routes refuse a caller without the admin token or the key (401)', async () => {
      const emu = await emulator();
      for (const path of ['/calls', '/reports', '/faults']) {
        const answer = await call(emu, admin(path), { method: 'GET', key: null });
        expect(answer.status, path).toBe(401);
        expect(answer.headers['access-control-allow-origin']).toBeUndefined();
        const wrong = await call(emu, admin(path), {
          method: 'GET',
          key: null,
          headers: { authorization: 'Bearer not-the-token-at-all' },
        });
        expect(wrong.status, path).toBe(401);
      }
      // Any subscription key does not do: only the emulator's configured key.
      expect((await call(emu, admin('/calls'), { method: 'GET' })).status).toBe(401);
    });

    it("emulator: the emulator's own apiKey opens the admin routes", async () => {
      const emu = await emulator({ apiKey: 'the-emulator-key' });
      const answer = await call(emu, admin('/calls'), { method: 'GET', key: 'the-emulator-key' });
      expect(answer.status).toBe(200);
    });

    it('emulator: a text/plain (CORS-simple) POST cannot inject faults, even with the token (415)', async () => {
      const emu = await emulator();
      const body = JSON.stringify({
        sequence: [{ type: 'status', status: 429, retryAfter: 86400 }],
      });
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', null]) {
        const answer = await call(emu, admin('/faults'), {
          body,
          contentType,
          key: null,
          headers: auth(emu),
        });
        expect(answer.status, String(contentType)).toBe(415);
      }
      const noToken = await call(emu, admin('/faults'), {
        body,
        contentType: 'text/plain',
        key: null,
      });
      expect(noToken.status).toBe(401);
      expect(emu.faults.pending).toBe(0);
      expect(
        (await call(emu, admin('/reset'), { key: null, contentType: 'text/plain' })).status,
      ).toBe(401);
    });

    it('emulator: answers no CORS preflight and no wildcard origin', async () => {
      const emu = await emulator();
      const preflight = await fetch(`${emu.url}/__emulator/faults`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://evil.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      expect(preflight.headers.get('access-control-allow-headers')).toBeNull();
      const image = await fetch(`${emu.url}/__emulator/test-images/${testImages()[0]?.name}`);
      expect(image.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});
