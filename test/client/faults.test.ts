import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FaultSpec } from '../../src/emulator/index.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';
import {
  API_KEY,
  closeServer,
  FAST_RETRY,
  type Harness,
  harness,
  listen,
  memoryLogger,
  serviceError,
} from './helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(() => h.close());

const image = png(200, 200, 7);

/** Each transient fault, and what it becomes once the retries are spent. */
const transient: Array<
  [string, FaultSpec, { reason: string; httpStatus?: number; statusCode?: number }]
> = [
  ['HTTP 500', { type: 'status', status: 500 }, { reason: 'server-error', httpStatus: 500 }],
  ['HTTP 503', { type: 'status', status: 503 }, { reason: 'server-error', httpStatus: 503 }],
  [
    'HTTP 429',
    { type: 'status', status: 429, retryAfter: 1 },
    { reason: 'rate-limited', httpStatus: 429 },
  ],
  ['a reset connection', { type: 'reset' }, { reason: 'network' }],
  ['status 3004', { type: 'code', code: 3004 }, { reason: 'server-error', statusCode: 3004 }],
  ['a body that is not JSON', { type: 'malformed' }, { reason: 'malformed-response' }],
  ['JSON of the wrong shape', { type: 'shape' }, { reason: 'malformed-response' }],
  ['a hang', { type: 'hang' }, { reason: 'timeout' }],
];

/** A small headers timeout (undici checks it on a clock of about one second). */
const quick = { timeouts: { headersMs: 150, callMs: 2000 } };

describe('transient faults', () => {
  it.each(transient)('recovers from %s followed by a good answer', async (_, fault) => {
    h.emulator.faults.push(fault);
    const result = await h.client(quick).match(image, 'image/png');
    expect(result).toMatchObject({ isMatch: false, statusCode: 3000 });
    expect(h.emulator.calls).toHaveLength(2);
    expect(h.emulator.calls[0]?.fault).toBe(fault.type);
  });

  it.each(transient)(
    'gives up on %s after maxAttempts, as SCAN_UNAVAILABLE',
    async (_, fault, expected) => {
      const retryAfter = fault.type === 'status' && fault.status === 429;
      h.emulator.faults.push(fault, fault, fault);
      const client = h.client({
        ...quick,
        retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      });
      const started = Date.now();
      const error = await serviceError(client.match(image, 'image/png'));
      expect(error).toMatchObject({ guardCode: 'SCAN_UNAVAILABLE', retryable: true, ...expected });
      expect(error.message).toContain('after 3 attempts');
      expect(h.emulator.calls).toHaveLength(3);
      expect(h.emulator.faults.pending).toBe(0);
      if (retryAfter) {
        expect(error.retryAfter).toBe(1);
        expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      }
    },
  );

  it('honours Retry-After between attempts', async () => {
    h.emulator.faults.push({ type: 'status', status: 429, retryAfter: 1 });
    await h.client().match(image, 'image/png');
    const [first, second] = h.emulator.calls;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });
});

describe('permanent answers', () => {
  const permanent: Array<[string, FaultSpec, object]> = [
    [
      'HTTP 401',
      { type: 'status', status: 401 },
      { reason: 'unauthorized', guardCode: 'SCAN_UNAVAILABLE', httpStatus: 401 },
    ],
    [
      'HTTP 403',
      { type: 'status', status: 403 },
      { reason: 'quota-exceeded', guardCode: 'SCAN_UNAVAILABLE', httpStatus: 403 },
    ],
    [
      'status 3002',
      { type: 'code', code: 3002 },
      { reason: 'bad-request', guardCode: 'SCAN_UNAVAILABLE', statusCode: 3002 },
    ],
    ['status 3206', { type: 'code', code: 3206 }, { guardCode: 'INVALID_IMAGE', statusCode: 3206 }],
    [
      'status 3208',
      { type: 'code', code: 3208 },
      { guardCode: 'IMAGE_TOO_SMALL', statusCode: 3208 },
    ],
  ];

  it.each(permanent)('does not retry %s and maps it', async (_, fault, expected) => {
    h.emulator.faults.push(fault);
    const error = await serviceError(h.client().match(image, 'image/png'));
    expect(error).toMatchObject({ retryable: false, ...expected });
    expect(h.emulator.calls).toHaveLength(1);
  });

  it('maps a real 3206 and 3208 from the emulator', async () => {
    const client = h.client();
    const notImage = await serviceError(
      client.match(Buffer.from('GIF89a not really'), 'image/gif'),
    );
    expect(notImage).toMatchObject({ guardCode: 'INVALID_IMAGE', statusCode: 3206 });
    const small = await serviceError(client.match(png(100, 100), 'image/png'));
    expect(small).toMatchObject({ guardCode: 'IMAGE_TOO_SMALL', statusCode: 3208 });
    expect(h.emulator.calls).toHaveLength(2);
  });

  it('names a rejected key without printing it, in the error and in the logs', async () => {
    const logger = memoryLogger();
    const wrongKey = 'wrong-key-0a1b2c3d4e';
    const error = await serviceError(
      h.client({ apiKey: wrongKey, logger }).match(image, 'image/png'),
    );
    expect(error).toMatchObject({ httpStatus: 401, reason: 'unauthorized', retryable: false });
    expect(error.message).toMatch(/rejected the subscription key \(HTTP 401\)/);
    expect(h.emulator.calls).toHaveLength(1);
    expect(logger.lines.join('\n')).toContain('unauthorized');
    for (const text of [
      error.message,
      String(error.stack),
      JSON.stringify(error),
      logger.lines.join('\n'),
    ]) {
      expect(text).not.toContain(wrongKey);
      expect(text).not.toContain(API_KEY);
    }
  });
});

describe('deadlines', () => {
  it('fails a hanging service within timeouts.callMs', async () => {
    h.emulator.faults.push({ type: 'hang' });
    const client = h.client({ timeouts: { callMs: 300 }, retry: { maxAttempts: 1 } });
    const started = Date.now();
    const error = await serviceError(client.match(image, 'image/png'));
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ reason: 'timeout', guardCode: 'SCAN_UNAVAILABLE' });
    expect(error.message).toContain('callMs');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    // Far below the next bound that could end it (headersMs, 10 s by default).
    expect(elapsed).toBeLessThan(2_000);
  });

  it("fails within the caller's AbortSignal.timeout, however many retries remain", async () => {
    h.emulator.faults.push({ type: 'hang' }, { type: 'hang' }, { type: 'hang' });
    const client = h.client({
      timeouts: { headersMs: 200 },
      retry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 20 },
    });
    const started = Date.now();
    const error = await serviceError(
      client.match(image, 'image/png', { signal: AbortSignal.timeout(500) }),
    );
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ reason: 'timeout', guardCode: 'SCAN_UNAVAILABLE' });
    expect(elapsed).toBeGreaterThanOrEqual(490);
    // Ten attempts of 200 ms each would take over 2 s.
    expect(elapsed).toBeLessThan(1_500);
  });

  it('stops retrying when the time budget would be overrun', async () => {
    h.emulator.faults.push({ type: 'status', status: 429, retryAfter: 5 });
    const client = h.client({
      retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20, budgetMs: 2000 },
    });
    const started = Date.now();
    const error = await serviceError(client.match(image, 'image/png'));
    expect(error).toMatchObject({ reason: 'rate-limited', retryAfter: 5 });
    // Honouring Retry-After would take 5 s.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(h.emulator.calls).toHaveLength(1);
  });
});

describe('response size', () => {
  it.each([
    ['declared in Content-Length', true],
    ['sent chunked', false],
  ])('refuses an answer over maxResponseBytes, %s, as malformed', async (_, declared) => {
    const big = JSON.stringify({
      Status: { Code: 3000 },
      TrackingId: 't',
      IsMatch: false,
      pad: 'x'.repeat(5000),
    });
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      res.writeHead(200, declared ? { 'content-length': Buffer.byteLength(big) } : {});
      res.end(big);
    });
    const base = await listen(server);
    try {
      const client = h.client({
        baseUrl: base,
        maxResponseBytes: 1024,
        retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      });
      const error = await serviceError(client.match(image, 'image/png'));
      expect(error).toMatchObject({ reason: 'malformed-response', guardCode: 'SCAN_UNAVAILABLE' });
      expect(error.message).toContain('1024 bytes');
      expect(calls).toBe(2);
    } finally {
      await closeServer(server);
    }
  });
});

/** A service whose first answer is `hostile` and every later one clean (to prove the pool recovers). */
async function hostileService(
  hostile: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  let calls = 0;
  const server = createServer((req, res) => {
    calls++;
    const first = calls === 1;
    req.resume();
    req.on('end', () => {
      if (first) hostile(req, res);
      else res.writeHead(200).end(CLEAN);
    });
  });
  return { url: await listen(server), close: () => closeServer(server) };
}

const CLEAN = JSON.stringify({ Status: { Code: 3000 }, TrackingId: 't-clean', IsMatch: false });

describe('a hostile service', () => {
  it('does not follow a redirect to another origin with the key', async () => {
    const seen: unknown[] = [];
    const other = createServer((req, res) => {
      seen.push(req.headers);
      res.end(CLEAN);
    });
    const otherUrl = await listen(other);
    const service = await hostileService((_req, res) =>
      res.writeHead(307, { location: `${otherUrl}/v2/PhotoDNA/Match` }).end(),
    );
    try {
      const client = h.client({ baseUrl: service.url, retry: { maxAttempts: 1 } });
      const error = await serviceError(client.match(image, 'image/png'));
      expect(error).toMatchObject({ guardCode: 'SCAN_UNAVAILABLE', httpStatus: 307 });
      expect(seen).toEqual([]);
    } finally {
      await service.close();
      await closeServer(other);
    }
  });

  it.each<[string, (req: IncomingMessage, res: ServerResponse) => void, string]>([
    [
      'a body dripped a byte at a time, within callMs',
      (_req, res) => {
        res.writeHead(200);
        const drip = setInterval(() => res.write(' '), 100);
        res.on('close', () => clearInterval(drip));
      },
      'timeout',
    ],
    [
      'a header block over the limit',
      (_req, res) => res.writeHead(200, { 'x-pad': 'a'.repeat(100_000) }).end(CLEAN),
      'network',
    ],
    [
      'a gzip body (never inflated)',
      (_req, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(CLEAN)),
      'malformed-response',
    ],
    [
      'a match whose scores nest too deep to copy (a stack overflow while reading it)',
      (_req, res) => {
        const depth = 100_000;
        res
          .writeHead(200)
          .end(
            `{"Status":{"Code":3000},"TrackingId":"t","IsMatch":true,"MatchDetails":{"MatchFlags":[{"Source":"s","Violations":["A1"]}]},"EvaluateResponse":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
          );
      },
      'malformed-response',
    ],
  ])('fails closed on %s, and the next call succeeds', async (_, hostile, reason) => {
    const service = await hostileService(hostile);
    try {
      const client = h.client({
        baseUrl: service.url,
        timeouts: { callMs: 1000 },
        retry: { maxAttempts: 1 },
        connections: 1,
      });
      const error = await serviceError(client.match(image, 'image/png'));
      expect(error).toMatchObject({ guardCode: 'SCAN_UNAVAILABLE', reason });
      await expect(client.match(image, 'image/png')).resolves.toMatchObject({ isMatch: false });
    } finally {
      await service.close();
    }
  });

  it.each([
    ['a huge delta', '99999999'],
    ['an HTTP date far ahead', 'Fri, 01 Jan 2100 00:00:00 GMT'],
  ])(
    'does not hold later calls back beyond the retry budget for a 429 Retry-After of %s',
    async (_, value) => {
      const service = await hostileService((_req, res) =>
        res.writeHead(429, { 'retry-after': value }).end('{}'),
      );
      try {
        const client = h.client({ baseUrl: service.url, retry: { ...FAST_RETRY, budgetMs: 500 } });
        const error = await serviceError(client.match(image, 'image/png'));
        expect(error).toMatchObject({ reason: 'rate-limited', httpStatus: 429 });
        // The service has recovered: the next call goes through once the budget has passed.
        const next = await client.match(image, 'image/png', { signal: AbortSignal.timeout(5_000) });
        expect(next).toMatchObject({ isMatch: false });
      } finally {
        await service.close();
      }
    },
  );
});

describe('a service whose clock is not ours', () => {
  it("reads an HTTP-date Retry-After against the answer's Date: a clock 10 minutes ahead still means 1 s", async () => {
    const skewMs = 10 * 60_000;
    const service = await hostileService((_req, res) => {
      const theirs = Date.now() + skewMs;
      res
        .writeHead(429, {
          date: new Date(theirs).toUTCString(),
          'retry-after': new Date(theirs + 1_000).toUTCString(),
        })
        .end('{}');
    });
    try {
      const client = h.client({ baseUrl: service.url, retry: { ...FAST_RETRY, budgetMs: 5_000 } });
      const started = Date.now();
      // Read against our clock, the wait would be ten minutes: over the budget, so no retry.
      await expect(client.match(image, 'image/png')).resolves.toMatchObject({ isMatch: false });
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await service.close();
    }
  });
});

describe('a service that echoes the key', () => {
  const echo = (code: number) => (req: IncomingMessage, res: ServerResponse) =>
    res.writeHead(200).end(
      JSON.stringify({
        Status: { Code: code },
        TrackingId: `tid-${String(req.headers['ocp-apim-subscription-key'])}`,
        IsMatch: false,
      }),
    );

  it.each([
    ['a refusal', 3002],
    ['a clean answer', 3000],
  ])('keeps it out of the tracking id of %s, the error and the logs', async (_, code) => {
    const service = await hostileService(echo(code));
    try {
      const logger = memoryLogger();
      const client = h.client({ baseUrl: service.url, retry: { maxAttempts: 1 }, logger });
      const outcome = await client.match(image, 'image/png').catch((error: unknown) => error);
      const text = JSON.stringify(outcome, (_key, v: unknown) =>
        v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v,
      );
      expect(text).toContain('tid-');
      expect(text).not.toContain(API_KEY);
      expect(logger.lines.join('\n')).not.toContain(API_KEY);
    } finally {
      await service.close();
    }
  });
});

describe('an answer that breaks HTTP and echoes the key', () => {
  it("keeps the unparsed bytes (undici's HTTPParserError data) out of the error's cause chain", async () => {
    const service = await hostileService((req, res) => {
      // A chunk size that is not hex, then the request's key quoted back (a proxy's debug dump).
      const key = String(req.headers['ocp-apim-subscription-key']);
      res.socket?.write(
        `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{"sent":"${key}"}\r\n0\r\n\r\n`,
      );
    });
    try {
      const logger = memoryLogger();
      const client = h.client({ baseUrl: service.url, retry: { maxAttempts: 1 }, logger });
      const error = await serviceError(client.match(image, 'image/png'));
      expect(error).toMatchObject({ guardCode: 'SCAN_UNAVAILABLE', reason: 'network' });
      expect(error.cause).toMatchObject({ name: 'HTTPParserError' });
      expect(everyText(error)).not.toContain(API_KEY);
      expect(logger.lines.join('\n')).not.toContain(API_KEY);
    } finally {
      await service.close();
    }
  });
});

/** Every string an error and its causes hold (own properties too, enumerable or not). */
function everyText(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 5) return String(error);
  return Object.getOwnPropertyNames(error)
    .map((key) => {
      const value: unknown = (error as unknown as Record<string, unknown>)[key];
      return key === 'cause' ? everyText(value, depth + 1) : `${key}=${String(value)}`;
    })
    .join('\n');
}

describe('a wall clock that steps during retries', () => {
  it('a step forward of an hour after a 500 does not spend the retry budget: the retry is made', async () => {
    h.emulator.faults.push({ type: 'status', status: 500 });
    h.emulator.setLatency(300);
    const client = h.client();
    const answer = client.match(png(200, 200, 77), 'image/png');
    await until(() => h.emulator.calls.length === 1, 'the first attempt to arrive');
    const realNow = Date.now.bind(Date);
    const stepped = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000);
    try {
      // Before: the budget was measured on Date.now, an hour spent: no retry, the call failed.
      await expect(answer).resolves.toMatchObject({ statusCode: 3000 });
      expect(h.emulator.calls).toHaveLength(2);
    } finally {
      stepped.mockRestore();
    }
  });
});
