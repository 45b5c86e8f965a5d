import { createServer, type Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReportBody } from '../../src/types.js';
import { png } from '../fixtures/images.js';
import {
  closeServer,
  type Harness,
  harness,
  listen,
  memoryLogger,
  serviceError,
} from './helpers.js';

const credentials = { ncmecUser: 'esp-user', ncmecPassword: 'ncmec-pass-9x8y7z' };

function reportBody(isTest = true): ReportBody {
  return {
    OrgName: 'Example Org',
    ReporterName: 'Trust and Safety',
    ReporterEmail: 'safety@example.com',
    IncidentTime: new Date('2025-01-02T03:04:05Z').toISOString(),
    ReporteeName: 'uploader-1',
    ReporteeIPAddress: '203.0.113.7',
    ViolationContentCollection: [{ Name: 'upload.png', Value: png().toString('base64') }],
    ...(isTest ? { AdditionalMetadata: [{ Key: 'IsTest', Value: 'true' }] } : {}),
  };
}

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(() => h.close());

describe('PhotoDnaClient.report', () => {
  it('sends x-usr, x-pwd and the body, and answers the tracking id', async () => {
    const body = reportBody();
    const result = await h.client().report(body, credentials);
    expect(result).toMatchObject({
      statusCode: 3000,
      trackingId: expect.stringMatching(/^1_photodna_/),
    });
    expect(h.emulator.reports).toHaveLength(0);
    expect(h.emulator.testReports).toEqual([
      expect.objectContaining({
        trackingId: result.trackingId,
        ncmecUser: 'esp-user',
        ncmecPasswordPresent: true,
        isTest: true,
        body,
      }),
    ]);
    expect(h.emulator.calls.map((c) => [c.operation, c.path])).toEqual([
      ['report', '/photodna/v1.0/Report'],
    ]);
  });

  it('maps a refused report (3002) without retrying, and never prints the password', async () => {
    const logger = memoryLogger();
    const body = { ...reportBody(), ReporterEmail: 'not-an-email' };
    const error = await serviceError(h.client({ logger }).report(body, credentials));
    expect(error).toMatchObject({
      statusCode: 3002,
      reason: 'bad-request',
      retryable: false,
      outcomeUnknown: false,
    });
    expect(h.emulator.calls).toHaveLength(1);
    for (const text of [error.message, JSON.stringify(error), logger.lines.join('\n')]) {
      expect(text).not.toContain(credentials.ncmecPassword);
    }
  });
});

/** A raw server standing for the Report endpoint, answering from a script, one entry per request. */
type Step = '503' | '504' | '403' | '429' | 'reset' | 'garbled' | 'no-tracking-id' | '3004' | 'ok';

async function scriptedService(script: Step[]) {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const step = script[requests++] ?? 'ok';
    req.resume();
    req.on('end', () => {
      if (step === 'reset') {
        req.socket.destroy();
        return;
      }
      if (step === 'garbled' || step === 'no-tracking-id' || step === '3004') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const status = { Code: step === '3004' ? 3004 : 3000, Description: 'x' };
        res.end(
          step === 'garbled'
            ? '{"Status":{"Code":3000},"TrackingId":"r-'
            : JSON.stringify({ Status: status, ...(step === '3004' ? { TrackingId: 'r-e' } : {}) }),
        );
        return;
      }
      if (step === 'ok') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ Status: { Code: 3000, Description: 'OK' }, TrackingId: 'r-ok' }));
        return;
      }
      const status = Number(step);
      res.writeHead(status, {
        'content-type': 'application/json',
        ...(status === 429 ? { 'retry-after': '1' } : {}),
      });
      res.end(JSON.stringify({ statusCode: status, message: 'no' }));
    });
  });
  const url = await listen(server);
  return { url, requests: () => requests, close: () => closeServer(server) };
}

describe('PhotoDnaClient.report is never re-sent once the service may have it', () => {
  it.each([
    ['a 503', '503', 'server-error'],
    ['a 504', '504', 'server-error'],
    ['a reset connection', 'reset', 'network'],
    ['an answer that is not JSON', 'garbled', 'malformed-response'],
    ['an OK answer without a tracking id', 'no-tracking-id', 'malformed-response'],
  ] as const)('sends it once after %s, whose outcome is unknown', async (_, step, reason) => {
    const service = await scriptedService([step]);
    try {
      const error = await serviceError(
        h.client({ baseUrl: service.url }).report(reportBody(), credentials),
      );
      expect(error).toMatchObject({ reason, retryable: true, outcomeUnknown: true });
      expect(service.requests()).toBe(1);
    } finally {
      await service.close();
    }
  });

  it.each([
    ['a 403 (quota spent)', '403', { httpStatus: 403, reason: 'quota-exceeded' }],
    ['a 3004 (the service says it failed)', '3004', { statusCode: 3004, trackingId: 'r-e' }],
  ] as const)('after %s the outcome is known: not filed', async (_, step, fields) => {
    const service = await scriptedService([step]);
    try {
      const error = await serviceError(
        h.client({ baseUrl: service.url }).report(reportBody(), credentials),
      );
      expect(error).toMatchObject({ ...fields, outcomeUnknown: false });
      expect(service.requests()).toBe(1);
    } finally {
      await service.close();
    }
  });

  it('resends it after a 429 (refused before it reached the service)', async () => {
    const service = await scriptedService(['429', 'ok']);
    try {
      const result = await h.client({ baseUrl: service.url }).report(reportBody(), credentials);
      expect(result.trackingId).toBe('r-ok');
      expect(service.requests()).toBe(2);
    } finally {
      await service.close();
    }
  });

  it('retries it when the connection was refused (nothing was sent)', async () => {
    const service = await scriptedService([]);
    const url = service.url;
    await service.close();
    const logger = memoryLogger();
    const client = h.client({
      baseUrl: url,
      logger,
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    });
    const error = await serviceError(client.report(reportBody(), credentials));
    expect(error).toMatchObject({
      reason: 'network',
      guardCode: 'SCAN_UNAVAILABLE',
      outcomeUnknown: false, // it never left
    });
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain('after 3 attempts');
    expect(logger.lines.filter((line) => line.includes('retrying'))).toHaveLength(2);
  });
});

describe('a service that echoes the NCMEC credentials', () => {
  it.each([
    ['a refusal', 3002],
    ['an accepted report', 3000],
  ])('keeps them out of the tracking id of %s, the error and the logs', async (_, code) => {
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () =>
        res.writeHead(200).end(
          JSON.stringify({
            Status: { Code: code },
            TrackingId: `tid-${String(req.headers['x-usr'])}-${String(req.headers['x-pwd'])}`,
          }),
        ),
      );
    });
    const baseUrl = await listen(server);
    try {
      const logger = memoryLogger();
      const client = h.client({ baseUrl, logger });
      const outcome = await client
        .report(reportBody(), credentials)
        .then(({ trackingId }) => trackingId)
        .catch((error: unknown) => error);
      const text = JSON.stringify(outcome, (_key, v: unknown) =>
        v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v,
      );
      expect(text).toContain('tid-');
      for (const secret of [credentials.ncmecUser, credentials.ncmecPassword]) {
        expect(text).not.toContain(secret);
        expect(logger.lines.join('\n')).not.toContain(secret);
      }
    } finally {
      await closeServer(server);
    }
  });
});
