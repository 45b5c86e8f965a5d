/**
 * SPEC 3.3 on every adapter: the raw bodies the Fastify comparison sends (fastify-malformed),
 * and the hostile requests around them, sent byte for byte over a raw TCP socket to the Express
 * guard and to Koa (@koa/router), Hono (@hono/node-server) and the Web `Request` guard (served
 * by a node:http server, as a Next.js or Remix handler would run). Each must answer what Express
 * answers — the same status and `error.code`, announced, the handler not run — leave no temp
 * file, and go on serving.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { png } from '../fixtures/images.js';
import { type Adapter, adapters, type Running } from '../helpers/adapters.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import {
  B,
  FILE_HEAD,
  form,
  NO_DISPOSITION,
  part,
  REFUSED_BODIES,
  REFUSED_REQUESTS,
  REFUSED_TYPES,
  TYPE,
  WELL_FORMED,
} from '../helpers/malformed-bodies.js';
import { abortMidUpload, exchange, type RawAnswer } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

// Taken before `expectNoTempFiles` points the temp directory at the folder it watches.
const quarantineDir = mkdtempSync(join(tmpdir(), 'pdg-parity-q-'));
afterAll(() => rmSync(quarantineDir, { recursive: true, force: true }));
expectNoTempFiles();
const emu = useEmulator();

/** Express is the reference; the others must answer as it does. */
const NAMES = ['express5', 'koa3', 'koa2', 'hono4', 'fetch'] as const;
type Name = (typeof NAMES)[number];
const MAX_FILE_SIZE = 256 * 1024;

interface Answer {
  status: number;
  code: string | undefined;
  /** `field:originalname` of each file the handler received (a passed request only). */
  files: string[] | undefined;
}

const servers = {} as Record<Name, Running & { rejects: string[] }>;
beforeAll(async () => {
  for (const name of NAMES) {
    const adapter = adapters.find((a) => a.name === name) as Adapter;
    const options = emu.options({
      policy: 'quarantine',
      quarantine: { dir: join(quarantineDir, name) },
      limits: { maxFileSize: MAX_FILE_SIZE },
    });
    const server = await adapter.start(options, [{ path: '/upload' }], { global: true });
    const rejects: string[] = [];
    server.guard.on('reject', (e) => rejects.push(e.code));
    servers[name] = Object.assign(server, { rejects });
  }
});
afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.close()));
});

/** The request line and headers of a POST to `/upload`: `headers` as sent, in order. */
const head = (...headers: string[]) => [
  'POST /upload HTTP/1.1',
  'Host: 127.0.0.1',
  'Connection: close',
  ...headers,
];

function answerOf(raw: RawAnswer): Answer {
  const json = raw.body.length > 0 ? tryJson(raw.body.toString()) : undefined;
  const files = (json as { files?: Array<{ fieldname: string; originalname: string }> })?.files;
  return {
    status: raw.status,
    code: (json as { error?: { code?: string } })?.error?.code,
    files: files?.map((f) => `${f.fieldname}:${f.originalname}`),
  };
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // a framework's own plain-text refusal
  }
}

/** Sends the same request to every server: each answer, the refusals it announced, handler runs. */
async function everywhere(headLines: string[], body: Buffer | (() => AsyncIterable<Buffer>)) {
  const answers = {} as Record<Name, Answer>;
  const rejects = {} as Record<Name, string[]>;
  const runs = {} as Record<Name, number>;
  for (const name of NAMES) {
    const server = servers[name];
    server.rejects.length = 0;
    const before = server.log.runs;
    answers[name] = answerOf(
      await exchange(server.port, headLines, Buffer.isBuffer(body) ? body : body()),
    );
    rejects[name] = [...server.rejects];
    runs[name] = server.log.runs - before;
  }
  return { answers, rejects, runs };
}

/** A multipart POST of `body` with its length, as the Fastify comparison sends them. */
const post = (type: string, body: Buffer) =>
  everywhere(head(`Content-Type: ${type}`, `Content-Length: ${body.length}`), body);

/** What every server answered, announced and ran, when they all agree with `expected`. */
function alike(expected: Answer, reject: string[], run: number) {
  const each = <T>(value: T) => Object.fromEntries(NAMES.map((n) => [n, value]));
  return { answers: each(expected), rejects: each(reject), runs: each(run) };
}

const refused = (status: number, code: string) =>
  alike({ status, code, files: undefined }, [code], 0);

/** Each server still answers a well-formed upload, on a new connection. */
async function expectStillServing() {
  expect((await post(TYPE, WELL_FORMED)).answers).toEqual(
    alike({ status: 200, code: undefined, files: ['f:a.png'] }, [], 1).answers,
  );
}

describe('the Fastify comparison’s bodies: every adapter answers as Express', () => {
  it('a well-formed upload passes everywhere (the harness itself)', async () => {
    expect(await post(TYPE, WELL_FORMED)).toEqual(
      alike({ status: 200, code: undefined, files: ['f:a.png'] }, [], 1),
    );
  });

  it('a part without Content-Disposition is skipped everywhere (the others pass)', async () => {
    expect(await post(TYPE, NO_DISPOSITION)).toEqual(
      alike({ status: 200, code: undefined, files: ['f:a.png'] }, [], 1),
    );
  });

  it.each(REFUSED_BODIES)('%s → 400 MALFORMED_MULTIPART everywhere', async (_, body) => {
    expect(await post(TYPE, body)).toEqual(refused(400, 'MALFORMED_MULTIPART'));
  });

  it.each(REFUSED_TYPES)('Content-Type %s → 400 MALFORMED_MULTIPART everywhere', async (type) => {
    expect(await post(type, WELL_FORMED)).toEqual(refused(400, 'MALFORMED_MULTIPART'));
  });

  it.each(REFUSED_REQUESTS)('%s → 400 MALFORMED_MULTIPART everywhere', async (_, type, body) => {
    expect(await post(type, body)).toEqual(refused(400, 'MALFORMED_MULTIPART'));
  });
});

describe('hostile uploads: every adapter answers as Express, and goes on serving', () => {
  it('an upload aborted mid-file (socket destroyed): nothing announced, the next request served', async () => {
    const body = form(part(FILE_HEAD, png(200, 200, 93, 200 * 1024)));
    for (const name of NAMES) {
      const server = servers[name];
      server.rejects.length = 0;
      const before = server.log.runs;
      await abortMidUpload(server.port, '/upload', body, B, Math.floor(body.length / 2));
      expect({ name, rejects: server.rejects, runs: server.log.runs - before }).toEqual({
        name,
        rejects: [],
        runs: 0,
      });
    }
    await expectStillServing();
  });

  it('a traversal filename is never a path: the handler gets its last segment, nothing lands outside', async () => {
    const traversal = 'Content-Disposition: form-data; name="f"; filename="../../etc/passwd"';
    expect(await post(TYPE, form(part(traversal)))).toEqual(
      alike({ status: 200, code: undefined, files: ['f:passwd'] }, [], 1),
    );
    // A matched file is quarantined under a name of the guard's, whatever the uploader's (and
    // answered as an unreadable image, the default `matchAnswer`: only the event says it matched).
    expect(await post(TYPE, form(part(traversal, knownImage())))).toEqual(
      alike({ status: 422, code: 'INVALID_IMAGE', files: undefined }, ['UPLOAD_REJECTED'], 0),
    );
    expect(readdirSync(quarantineDir).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) {
      const stored = readdirSync(join(quarantineDir, name));
      expect({
        name,
        stored: stored.length > 0,
        named: stored.filter((f) => /passwd|\.\./.test(f)),
      }).toEqual({ name, stored: true, named: [] });
    }
  });

  // Node keeps the first of two `Content-Type` lines and drops the other (its documented rule for
  // this header), so Express and Koa guard, parse and hand over what that first line says, and
  // nothing on Node reads the second. A Web `Request` joins them, as the Fetch standard says,
  // into a list of types — which `formData()` would read by its last — and the guard refuses
  // a list it will not read. A refusal where Express serves, never a 200 where Express refuses.
  it.each([
    [TYPE, 'text/plain', ['f:a.png']],
    ['text/plain', TYPE, undefined],
    [TYPE, 'multipart/form-data; boundary=Other', ['f:a.png']],
  ])(
    'Content-Type %s, then %s: Node keeps the first line, the Web guards refuse the list',
    async (first, second, files) => {
      const body = WELL_FORMED;
      const lines = [`Content-Type: ${first}`, `Content-Type: ${second}`];
      const { answers, rejects, runs } = await everywhere(
        head(...lines, `Content-Length: ${body.length}`),
        body,
      );
      const served = { status: 200, code: undefined, files };
      const refusal = { status: 400, code: 'MALFORMED_MULTIPART', files: undefined };
      expect({ answers, rejects, runs }).toEqual({
        answers: { express5: served, koa3: served, koa2: served, hono4: refusal, fetch: refusal },
        rejects: {
          express5: [],
          koa3: [],
          koa2: [],
          hono4: ['MALFORMED_MULTIPART'],
          fetch: ['MALFORMED_MULTIPART'],
        },
        runs: { express5: 1, koa3: 1, koa2: 1, hono4: 0, fetch: 0 },
      });
    },
  );

  it('a boundary longer than 70 characters (RFC 2046’s limit) is read everywhere, as busboy reads it', async () => {
    const long = 'L'.repeat(200);
    const body = Buffer.concat([
      Buffer.from(`--${long}\r\n${FILE_HEAD}\r\nContent-Type: image/png\r\n\r\n`),
      png(200, 200, 94),
      Buffer.from(`\r\n--${long}--\r\n`),
    ]);
    expect(await post(`multipart/form-data; boundary=${long}`, body)).toEqual(
      alike({ status: 200, code: undefined, files: ['f:a.png'] }, [], 1),
    );
  });

  it('Transfer-Encoding: chunked with a malformed chunk: Node’s own 400 everywhere, no hang', async () => {
    const good = WELL_FORMED.subarray(0, 100);
    const body = Buffer.concat([
      Buffer.from(`${good.length.toString(16)}\r\n`),
      good,
      Buffer.from('\r\nzz-not-hex\r\n'),
      WELL_FORMED.subarray(100),
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    // Node's HTTP parser refuses the chunk itself (its plain 400, no JSON) before any framework
    // answers: to the guard the uploader left mid-body, nothing to announce. (Koa logs the
    // socket's parse error through its own `app.onerror`, unless `app.silent`.)
    expect(
      await everywhere(head(`Content-Type: ${TYPE}`, 'Transfer-Encoding: chunked'), body),
    ).toEqual(alike({ status: 400, code: undefined, files: undefined }, [], 0));
    await expectStillServing();
  });

  // multer drains the rest of a refused body before it answers (so that the uploader, still
  // sending, reads the answer rather than a reset): the 413 comes once the body is in, having
  // kept none of it and spent no call. Node's `requestTimeout` bounds how long that may take.
  it('a file over maxFileSize arriving slowly → 413 FILE_TOO_LARGE everywhere', async () => {
    const body = form(part(FILE_HEAD, png(200, 200, 95, 4 * MAX_FILE_SIZE)));
    async function* slowly() {
      for (let at = 0; at < body.length; at += 16 * 1024) {
        // A slow uploader's pace (the case itself, not a wait for a result).
        await new Promise((r) => setTimeout(r, 5));
        yield body.subarray(at, at + 16 * 1024);
      }
    }
    const lines = head(`Content-Type: ${TYPE}`, `Content-Length: ${body.length}`);
    expect(await everywhere(lines, slowly)).toEqual(refused(413, 'FILE_TOO_LARGE'));
    await expectStillServing();
  });
});
