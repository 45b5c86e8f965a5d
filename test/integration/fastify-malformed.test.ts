/**
 * Malformed multipart, the same raw bytes to the Express guard (its own parser: multer over
 * busboy) and to the Fastify plugin in both modes: `'parse'` (the same parser) and `'scan'`
 * (@fastify/multipart's more lenient @fastify/busboy, `saveRequestFiles()` run by the guard).
 * Whatever the parser, the answers must agree: the guard refuses what its own parser refuses.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import fastifyMultipart from '@fastify/multipart';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photodnaGuard as fastifyGuard } from '../../src/fastify.js';
import { photodnaGuard as expressGuard, type GuardOptions } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { useEmulator } from '../helpers/emulated.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

expectNoTempFiles();
const emu = useEmulator();

const B = 'AgreeB';
const TYPE = `multipart/form-data; boundary=${B}`;
const IMAGE = png(200, 200, 91);

/** One part: `head` is its header block as sent (lines joined by CRLF), then its bytes. */
const part = (head: string, data: Buffer | string = IMAGE) =>
  Buffer.concat([Buffer.from(`--${B}\r\n${head}\r\n\r\n`), Buffer.from(data), Buffer.from('\r\n')]);
const FILE_HEAD = 'Content-Disposition: form-data; name="f"; filename="a.png"';
const CLOSE = Buffer.from(`--${B}--\r\n`);
const form = (...parts: Buffer[]) => Buffer.concat([...parts, CLOSE]);
const WELL_FORMED = form(part(`${FILE_HEAD}\r\nContent-Type: image/png`));

interface Answer {
  status: number;
  code: string | undefined;
  /** The file fields the handler received (a passed request only). */
  fields: string[] | undefined;
}

/** A server of one guarded route, `/upload`, and what its guard announced. */
interface Target {
  port: number;
  rejects: string[];
  runs: number;
  close(): Promise<void>;
}

async function expressTarget(options: GuardOptions): Promise<Target> {
  const guard = expressGuard(options);
  const app = express();
  const target = { port: 0, rejects: [] as string[], runs: 0, close: async () => {} };
  guard.on('reject', (e) => target.rejects.push(e.code));
  app.post('/upload', guard.any(), (req, res) => {
    target.runs += 1;
    res.json({ fields: (req.files as Express.Multer.File[]).map((f) => f.fieldname) });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  target.port = (server.address() as AddressInfo).port;
  target.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await guard.close();
  };
  return target;
}

async function fastifyTarget(options: GuardOptions, mode: 'parse' | 'scan'): Promise<Target> {
  const app: FastifyInstance = Fastify();
  if (mode === 'scan') await app.register(fastifyMultipart);
  await app.register(fastifyGuard, { ...options, mode });
  const target = { port: 0, rejects: [] as string[], runs: 0, close: async () => {} };
  app.photodna.on('reject', (e) => target.rejects.push(e.code));
  app.post('/upload', async (req) => {
    target.runs += 1;
    if (mode === 'parse') {
      const files = req.uploads?.files;
      return { fields: Array.isArray(files) ? files.map((f) => f.fieldname) : undefined };
    }
    const { files } = await req.saveRequestFiles();
    return { fields: files.map((f) => f.fieldname) };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  target.port = (app.server.address() as AddressInfo).port;
  target.close = async () => {
    app.server.closeAllConnections();
    await app.close();
  };
  return target;
}

/** Sends exactly `body` (its length as Content-Length) with `type` as the Content-Type. */
function send(port: number, type: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/upload',
        headers: { 'content-type': type, 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const json = JSON.parse(Buffer.concat(chunks).toString());
          resolve({ status: res.statusCode ?? 0, code: json.error?.code, fields: json.fields });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const targets: Record<'express' | 'fastify-parse' | 'fastify-scan', Target> = {} as never;
beforeAll(async () => {
  targets.express = await expressTarget(emu.options());
  targets['fastify-parse'] = await fastifyTarget(emu.options(), 'parse');
  targets['fastify-scan'] = await fastifyTarget(emu.options(), 'scan');
});
afterAll(async () => {
  await Promise.all(Object.values(targets).map((t) => t?.close()));
});

/** Sends the same request to every target: the answers, and the refusals each announced. */
async function everywhere(type: string, body: Buffer) {
  const answers: Record<string, Answer> = {};
  const rejects: Record<string, string[]> = {};
  const runs: Record<string, number> = {};
  for (const [name, target] of Object.entries(targets)) {
    target.rejects.length = 0;
    const before = target.runs;
    answers[name] = await send(target.port, type, body);
    rejects[name] = [...target.rejects];
    runs[name] = target.runs - before;
  }
  return { answers, rejects, runs };
}

const REFUSED: Answer = { status: 400, code: 'MALFORMED_MULTIPART', fields: undefined };
const refusedEverywhere = {
  answers: { express: REFUSED, 'fastify-parse': REFUSED, 'fastify-scan': REFUSED },
  rejects: {
    express: ['MALFORMED_MULTIPART'],
    'fastify-parse': ['MALFORMED_MULTIPART'],
    'fastify-scan': ['MALFORMED_MULTIPART'],
  },
  runs: { express: 0, 'fastify-parse': 0, 'fastify-scan': 0 },
};

describe('malformed multipart: Fastify answers as the Express guard, in both modes', () => {
  it('a well-formed upload passes everywhere (the harness itself)', async () => {
    const passed: Answer = { status: 200, code: undefined, fields: ['f'] };
    expect(await everywhere(TYPE, WELL_FORMED)).toEqual({
      answers: { express: passed, 'fastify-parse': passed, 'fastify-scan': passed },
      rejects: { express: [], 'fastify-parse': [], 'fastify-scan': [] },
      runs: { express: 1, 'fastify-parse': 1, 'fastify-scan': 1 },
    });
  });

  it('a part without Content-Disposition is skipped everywhere (the others pass)', async () => {
    const body = form(part('Content-Type: image/png', 'not a form field'), part(FILE_HEAD));
    const passed: Answer = { status: 200, code: undefined, fields: ['f'] };
    expect((await everywhere(TYPE, body)).answers).toEqual({
      express: passed,
      'fastify-parse': passed,
      'fastify-scan': passed,
    });
  });

  // Bodies @fastify/busboy tolerated ('scan' mode answered 200, the handler ran): a part it
  // dropped (a header block it stopped reading before Content-Disposition) never reached the
  // handler, and a part it half-read was scanned, but busboy refuses them all.
  it.each([
    [
      'a header line without a colon before Content-Disposition',
      form(part(`garbage\r\n${FILE_HEAD}`), part(FILE_HEAD)),
    ],
    [
      'a header line without a colon after Content-Disposition',
      form(part(`${FILE_HEAD}\r\ngarbage\r\nContent-Type: image/png`)),
    ],
    [
      'a header name with a space',
      form(part('Content Disposition: form-data; name="f"; filename="a.png"')),
    ],
    [
      'a bare LF ending a header line',
      form(part(`${FILE_HEAD}\nContent-Type: image/png`), part(FILE_HEAD)),
    ],
    [
      'a control byte in a header value',
      form(part('Content-Disposition: form-data; name="f"; filename="a\x01.png"')),
    ],
    [
      'a NUL in a file field name',
      form(part('Content-Disposition: form-data; name="f\0x"; filename="a.png"')),
    ],
    [
      'a NUL in a text field name',
      form(part('Content-Disposition: form-data; name="t\0x"', 'text')),
    ],
    ['a part header over 16 KiB', form(part(`${FILE_HEAD}\r\nX-Pad: ${'a'.repeat(16 * 1024)}`))],
    ['a text field without a name', form(part('Content-Disposition: form-data', 'text'))],
    ['an empty body', Buffer.alloc(0)],
    // Refused at its first part, while the plugin still saves the large one after it to disk.
    [
      'a header line without a colon, then a 3 MiB file',
      form(part(`garbage\r\n${FILE_HEAD}`), part(FILE_HEAD, png(200, 200, 92, 3 * 1024 * 1024))),
    ],
  ])('%s → 400 MALFORMED_MULTIPART everywhere (announced, no handler)', async (_, body) => {
    expect(await everywhere(TYPE, body)).toEqual(refusedEverywhere);
  });

  it.each([
    'text/plain, multipart/form-data; boundary=AgreeB',
    'multipart/form-data, text/plain; boundary=AgreeB',
    'multipart/form-data; boundary=AgreeB; x',
    'multipart/form-data; boundary="AgreeB", text/plain',
  ])(
    "Content-Type %s → 400 MALFORMED_MULTIPART everywhere (Fastify 'scan' mode answered its own 415, or read it)",
    async (type) => {
      expect(await everywhere(type, WELL_FORMED)).toEqual(refusedEverywhere);
    },
  );

  // These agreed before (checked by the same harness), kept so that they go on agreeing.
  it.each([
    ['no boundary', 'multipart/form-data', WELL_FORMED],
    ['a boundary the body does not use', 'multipart/form-data; boundary=Other', WELL_FORMED],
    ['a body cut off inside a part', TYPE, WELL_FORMED.subarray(0, 200)],
    ['no final boundary', TYPE, WELL_FORMED.subarray(0, WELL_FORMED.length - CLOSE.length)],
    [
      'a delimiter where the final boundary should be',
      TYPE,
      Buffer.concat([
        WELL_FORMED.subarray(0, WELL_FORMED.length - CLOSE.length),
        Buffer.from(`--${B}\r\n`),
      ]),
    ],
    ['a list of types starting with form data', `${TYPE}, text/plain`, WELL_FORMED],
  ])('%s → 400 MALFORMED_MULTIPART everywhere', async (_, type, body) => {
    expect(await everywhere(type, body)).toEqual(refusedEverywhere);
  });
});
