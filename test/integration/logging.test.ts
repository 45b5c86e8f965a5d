import { type AddressInfo, createServer } from 'node:net';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import pino from 'pino';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { MatchEvent } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { adapters, type Running } from '../helpers/adapters.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

const emu = useEmulator();
const express5 = adapters[0];

/** A pino-compatible logger that keeps every line it is given. */
function capture() {
  const lines: Array<{ level: string; obj: unknown; msg?: string }> = [];
  const at = (level: string) => (obj: unknown, msg?: string) => lines.push({ level, obj, msg });
  return {
    lines,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

const serialize = (value: unknown) =>
  JSON.stringify(value, (_, v) =>
    v instanceof Error ? { message: v.message, stack: v.stack, cause: String(v.cause) } : v,
  );

describe('the injected logger', () => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  it('hears scans, rejections, matches and errors, and never bytes, keys, passwords or file names', async () => {
    const { lines, logger } = capture();
    const apiKey = 'sk-logging-secret-key-42';
    const options = emu.options({
      apiKey,
      logger,
      reporter: { ncmecPassword: 'ncmec-secret-pw', ncmecUser: 'u' },
      onMatch: () => {
        throw new Error('hook failed');
      },
    });
    const server = await express5?.start(options, [{ path: '/upload' }], { global: true });
    if (!server) throw new Error('no adapter');
    running.push(server);
    const bytes = knownImage();
    expect(
      (await request(server.url).post('/upload').attach('f', bytes, 'private-name-1.png')).status,
    ).toBe(422);
    expect(
      (
        await request(server.url)
          .post('/upload')
          .attach('f', png(200, 200, 901), 'private-name-2.png')
      ).status,
    ).toBe(200);
    const levels = lines.map((l) => `${l.level}:${l.msg}`);
    expect(levels).toEqual(
      expect.arrayContaining([
        'warn:photodna-guard: an upload matched a hash list',
        'info:photodna-guard: upload rejected',
        'debug:photodna-guard: file scanned',
        'error:photodna-guard: hook error: hook failed',
      ]),
    );
    const all = serialize(lines);
    expect(all).not.toContain(apiKey);
    expect(all).not.toContain('ncmec-secret-pw');
    expect(all).not.toContain('private-name');
    expect(all).not.toContain(bytes.toString('base64').slice(0, 64));
    expect(all).not.toContain(bytes.subarray(0, 32).toString('hex'));
  });
});

describe("the injected logger and the host's errors", () => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  it("leak: an onMatch error that carries the request it failed on (an HTTP client's config: body, headers) logs neither the image nor the host's token", async () => {
    const written: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        written.push(String(chunk));
        done();
      },
    });
    const hostToken = 'Bearer host-moderation-SECRET-token';
    const server = await express5?.start(
      emu.options({
        policy: 'block',
        logger: pino({ level: 'debug' }, stream),
        // The host forwards the match with an HTTP client whose error keeps the request, as
        // axios's does (`error.config.data`, `error.config.headers`).
        onMatch: (event) => {
          throw Object.assign(new Error('Request failed with status code 502'), {
            code: 'ERR_BAD_RESPONSE',
            config: {
              url: 'https://moderation.example/api/matches',
              headers: { Authorization: hostToken },
              data: event.buffer,
            },
          });
        },
      }),
      [{ path: '/upload' }],
      { global: true },
    );
    if (!server) throw new Error('no adapter');
    running.push(server);
    const bytes = knownImage();
    expect((await request(server.url).post('/upload').attach('f', bytes, 'm.png')).status).toBe(
      422,
    );
    const all = written.join('');
    // The failure is logged, with what says why.
    expect(all).toContain('Request failed with status code 502');
    expect(all).toContain('ERR_BAD_RESPONSE');
    expect(all).not.toContain(hostToken);
    expect(all).not.toContain(JSON.stringify([...bytes.subarray(0, 16)]).slice(1, -1));
  });
});

describe('a service that breaks HTTP quoting the request', () => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  it("leak: the 503's error event, logged by the guard or whole by the host (console.error's util.inspect), carries no key from undici's parse error", async () => {
    const written: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        written.push(String(chunk));
        done();
      },
    });
    // A proxy's debug page, sent as a chunked body whose chunk size is not hex.
    const service = createServer((socket) => {
      let head = '';
      socket.on('error', () => {});
      socket.on('data', (data) => {
        head += data.toString('latin1');
        const key = /ocp-apim-subscription-key: *([^\r]+)/i.exec(head)?.[1];
        if (key === undefined || !head.includes('\r\n\r\n')) return;
        socket.end(
          `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{"received":"${key}"}\r\n0\r\n\r\n`,
        );
      });
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    const apiKey = 'sk-parse-error-secret-key-77';
    try {
      const server = await express5?.start(
        {
          apiKey,
          baseUrl: `http://127.0.0.1:${(service.address() as AddressInfo).port}`,
          client: { retry: { maxAttempts: 1 } },
          logger: pino({ level: 'debug' }, stream),
        },
        [{ path: '/upload' }],
        { global: true },
      );
      if (!server) throw new Error('no adapter');
      running.push(server);
      server.guard.on('error', (event) => written.push(inspect(event, { depth: null })));
      const res = await request(server.url)
        .post('/upload')
        .attach('f', png(200, 200, 4242), 'f.png');
      expect(res.status).toBe(503);
      const all = written.join('');
      expect(all).toContain('HTTPParserError');
      expect(all).not.toContain(apiKey);
    } finally {
      await new Promise<void>((resolve) => service.close(() => resolve()));
    }
  });
});

describe('events a host logs whole', () => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  it('leak: a match event logged whole (pino, JSON.stringify, util.inspect) carries no image bytes; event.buffer still holds them', async () => {
    const written: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        written.push(String(chunk));
        done();
      },
    });
    // What a host does with an event it does not read field by field.
    const hostLogger = pino({ level: 'debug' }, stream);
    const server = await express5?.start(emu.options({ policy: 'flag' }), [{ path: '/upload' }], {
      global: true,
    });
    if (!server) throw new Error('no adapter');
    running.push(server);
    const matches: MatchEvent[] = [];
    server.guard.on('match', (event) => {
      matches.push(event);
      hostLogger.warn(event, 'upload matched');
      hostLogger.info({ event }, 'upload matched');
      written.push(JSON.stringify(event), inspect(event, { depth: null }));
    });
    const bytes = knownImage();
    expect((await request(server.url).post('/upload').attach('f', bytes, 'm.png')).status).toBe(
      200,
    );
    expect(matches).toHaveLength(1);
    expect(matches[0]?.buffer.equals(bytes)).toBe(true);
    const all = written.join('\n');
    expect(all).toContain(matches[0]?.id);
    expect(all).not.toContain('buffer');
    expect(all).not.toContain(bytes.toString('base64').slice(16, 80));
    // util.inspect's `<Buffer 89 50 ...>` and JSON's `{"type":"Buffer","data":[137,80,...]}`.
    expect(all).not.toContain(inspect(bytes.subarray(0, 16)).slice('<Buffer '.length, -1));
    expect(all).not.toContain(JSON.stringify([...bytes.subarray(0, 16)]).slice(1, -1));
  });
});
