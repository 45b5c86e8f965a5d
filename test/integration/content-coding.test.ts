/**
 * A multipart body with a content coding (`Content-Encoding: gzip`...) on every adapter where the
 * guard reads the body (its own parser, or @fastify/multipart's `saveRequestFiles()` with the
 * guard's parser alongside). No parser there decodes it: each reads the coded bytes as if they
 * were the form. A gzip stream can carry one form in its header's extra field, which a parser
 * reading the bytes as they are finds, and another in its compressed data, which is the body as
 * HTTP defines it (what a proxy or a host honouring the header reads): the guard must refuse it
 * as unreadable, never call it clean having checked the decoy.
 */
import { crc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { jpg } from '../fixtures/images.js';
import { adapters, type Running } from '../helpers/adapters.js';
import { fastifyScanAdapter } from '../helpers/adapters-web.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { exchange, multipartBody } from '../helpers/raw-upload.js';

const emu = useEmulator();
const BOUNDARY = 'codedForm';
const form = (data: Buffer) =>
  multipartBody(BOUNDARY, [{ name: 'photo', filename: 'a.jpg', type: 'image/jpeg', data }]);
const KNOWN_FORM = form(knownImage());
const CLEAN = jpg(200, 200, 31);

/**
 * A gzip member (RFC 1952) whose FEXTRA field holds the form `decoy` and whose compressed data
 * inflates to the form `inflated`: a parser reading the bytes as they are skips the gzip header
 * as the form's preamble and reads the decoy.
 */
function gzipPolyglot(decoy: Buffer, inflated: Buffer): Buffer {
  const payload = Buffer.concat([Buffer.from('\r\n'), decoy]);
  const subfield = Buffer.alloc(4 + payload.length);
  subfield.write('PG', 0, 'latin1');
  subfield.writeUInt16LE(payload.length, 2);
  payload.copy(subfield, 4);
  const header = Buffer.from([0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 0xff, 0, 0]);
  header.writeUInt16LE(subfield.length, 10);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(inflated), 0);
  trailer.writeUInt32LE(inflated.length, 4);
  return Buffer.concat([header, subfield, deflateRawSync(inflated), trailer]);
}

/** Sends `body` with a `Content-Length`, or as one chunk when `headers` set a Transfer-Encoding. */
function post(server: Running, body: Buffer, headers: string[]) {
  const chunked = headers.some((line) => /^transfer-encoding:/i.test(line));
  return exchange(
    server.port,
    [
      'POST /upload HTTP/1.1',
      'Host: 127.0.0.1',
      'Connection: close',
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
      ...(chunked ? [] : [`Content-Length: ${body.length}`]),
      ...headers,
    ],
    chunked
      ? Buffer.concat([
          Buffer.from(`${body.length.toString(16)}\r\n`),
          body,
          Buffer.from('\r\n0\r\n\r\n'),
        ])
      : body,
  );
}

describe.each([...adapters, fastifyScanAdapter])('$name', (adapter) => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });
  async function start() {
    const server = await adapter.start(emu.options(), [{ path: '/upload' }], { global: true });
    running.push(server);
    return server;
  }

  it.each(['Content-Encoding: gzip', 'Transfer-Encoding: gzip, chunked'])(
    'a gzip body whose header holds a clean form and whose data inflates to a known image (%s) is 400 MALFORMED_MULTIPART, never clean',
    async (coding) => {
      const server = await start();
      const body = gzipPolyglot(form(CLEAN), KNOWN_FORM);
      expect(gunzipSync(body).equals(KNOWN_FORM)).toBe(true);
      const answer = await post(server, body, [coding]);
      expect({
        status: answer.status,
        code: JSON.parse(answer.body.toString()).error?.code,
      }).toEqual({ status: 400, code: 'MALFORMED_MULTIPART' });
      expect(server.log.runs).toBe(0);
    },
  );

  it.each([
    'Content-Encoding: gzip',
    'Content-Encoding: x-gzip',
    'Content-Encoding: deflate',
    'Content-Encoding: br',
    'Content-Encoding: identity, gzip',
    'Transfer-Encoding: deflate, chunked',
  ])(
    'a form labelled %s is 400 MALFORMED_MULTIPART, however its bytes read; identity is no coding',
    async (coding) => {
      const server = await start();
      // The form's own bytes, as a parser reading them as they are would take them.
      const coded = await post(server, form(CLEAN), [coding]);
      expect(coded.status).toBe(400);
      expect(JSON.parse(coded.body.toString()).error.code).toBe('MALFORMED_MULTIPART');
      expect(server.log.runs).toBe(0);
      const plain = await post(server, form(CLEAN), [
        'Content-Encoding: Identity',
        'Transfer-Encoding: identity, chunked',
      ]);
      expect(plain.status).toBe(200);
      expect(JSON.parse(plain.body.toString()).photodna.status).toBe('clean');
      const known = await post(server, KNOWN_FORM, ['Content-Encoding: identity']);
      expect(known.status).toBe(422);
      expect(server.log.runs).toBe(1);
    },
  );
});
