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
import { useEmulator } from '../helpers/emulated.js';
import {
  NO_DISPOSITION,
  REFUSED_BODIES,
  REFUSED_REQUESTS,
  REFUSED_TYPES,
  TYPE,
  WELL_FORMED,
} from '../helpers/malformed-bodies.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

expectNoTempFiles();
const emu = useEmulator();

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
    const passed: Answer = { status: 200, code: undefined, fields: ['f'] };
    expect((await everywhere(TYPE, NO_DISPOSITION)).answers).toEqual({
      express: passed,
      'fastify-parse': passed,
      'fastify-scan': passed,
    });
  });

  // Bodies @fastify/busboy tolerated ('scan' mode answered 200, the handler ran): a part it
  // dropped (a header block it stopped reading before Content-Disposition) never reached the
  // handler, and a part it half-read was scanned, but busboy refuses them all.
  it.each(REFUSED_BODIES)(
    '%s → 400 MALFORMED_MULTIPART everywhere (announced, no handler)',
    async (_, body) => {
      expect(await everywhere(TYPE, body)).toEqual(refusedEverywhere);
    },
  );

  it.each(REFUSED_TYPES)(
    "Content-Type %s → 400 MALFORMED_MULTIPART everywhere (Fastify 'scan' mode answered its own 415, or read it)",
    async (type) => {
      expect(await everywhere(type, WELL_FORMED)).toEqual(refusedEverywhere);
    },
  );

  // These agreed before (checked by the same harness), kept so that they go on agreeing.
  it.each(REFUSED_REQUESTS)('%s → 400 MALFORMED_MULTIPART everywhere', async (_, type, body) => {
    expect(await everywhere(type, body)).toEqual(refusedEverywhere);
  });
});
