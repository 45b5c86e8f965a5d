import { createHash } from 'node:crypto';
import express from 'express';
import sharp from 'sharp';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorEvent, RejectEvent, ScanEvent } from '../../src/index.js';
import { photodnaGuard } from '../../src/index.js';
import { UTF8_GIF_SIDE, utf8GifText } from '../fixtures/utf8-gif.js';
import { useEmulator } from '../helpers/emulated.js';
import { listen } from '../helpers/express-app.js';
import { multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

/**
 * `sanitize: 'reencode'` over real HTTP on Express, against the emulator: a GIF posted as raw
 * bytes in a UTF-8 text field (no filename, no charset: busboy decodes it as UTF-8) is checked,
 * re-encoded, and then cannot be handed back as UTF-8 text (sharp's GIF has a colour table, bytes
 * over 0x7F that no UTF-8 string holds). The guard refuses it (422 `INVALID_IMAGE`) instead of
 * handing the handler something other than what was checked (src/core/field-images.ts, `asText`).
 * Under `sanitize: 'none'` the same field passes unchanged: the input is a valid image.
 */

expectNoTempFiles();
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const emu = useEmulator({ rateLimit: false });

const TEXT = utf8GifText();
const SENT = Buffer.from(TEXT, 'utf8'); // the bytes on the wire
const AS_LATIN1 = Buffer.from(TEXT, 'latin1'); // the other reading a handler may reverse
const BOUNDARY = 'utf8-gif-field-boundary';

interface Seen {
  runs: number;
  /** Whether `req.body.gif` was exactly the text sent, and its UTF-8 bytes' hash. */
  unchanged?: boolean;
  sha256?: string;
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** Express with the guard on `/upload` as a route guard with `sanitize`, against the emulator. */
async function start(sanitize: 'none' | 'reencode') {
  const guard = photodnaGuard(emu.options());
  const rejects: RejectEvent[] = [];
  const scans: ScanEvent[] = [];
  const errors: ErrorEvent[] = [];
  guard
    .on('reject', (e) => rejects.push(e))
    .on('scan', (e) => scans.push(e))
    .on('error', (e) => errors.push(e));
  const seen: Seen = { runs: 0 };
  const app = express();
  app.post('/upload', guard.route({ sanitize }), (req, res) => {
    seen.runs += 1;
    const value: unknown = req.body?.gif;
    seen.unchanged = value === TEXT;
    if (typeof value === 'string') seen.sha256 = sha256(Buffer.from(value, 'utf8'));
    res.json({ photodna: req.photodna });
  });
  const server = await listen(app);
  closers.push(async () => {
    await server.close();
    await guard.close();
  });
  return { url: server.url, seen, rejects, scans, errors };
}

/** The GIF's bytes, raw, as a text part: no filename, no Content-Type (UTF-8 by default). */
const post = (url: string) =>
  request(url)
    .post('/upload')
    .set('content-type', `multipart/form-data; boundary=${BOUNDARY}`)
    .send(multipartBody(BOUNDARY, [{ name: 'gif', data: SENT }]));

describe("sanitize 'reencode': an image in a UTF-8 text field that re-encodes to bytes UTF-8 cannot hold", () => {
  it('the field is a real GIF, valid UTF-8, with a second (latin1) reading; sharp re-encodes it to non-UTF-8 bytes', async () => {
    expect(SENT.includes(Buffer.from(BOUNDARY, 'latin1'))).toBe(false);
    expect(Buffer.from(SENT.toString('utf8'), 'utf8').equals(SENT)).toBe(true);
    // All ASCII but one 'é' (C3 A9): the latin1 reading differs, so the guard keeps a UTF-8 one.
    expect([...SENT].filter((byte) => byte > 0x7f)).toEqual([0xc3, 0xa9]);
    expect(AS_LATIN1.equals(SENT)).toBe(false);
    for (const bytes of [SENT, AS_LATIN1]) {
      const meta = await sharp(bytes, { failOn: 'error' }).metadata();
      expect(meta).toMatchObject({
        format: 'gif',
        width: UTF8_GIF_SIDE,
        height: UTF8_GIF_SIDE,
        pages: 1,
      });
      const reencoded = await sharp(bytes, { failOn: 'error' }).gif().toBuffer();
      expect(Buffer.from(reencoded.toString('utf8'), 'utf8').equals(reencoded)).toBe(false);
    }
  });

  it("'reencode': 422 INVALID_IMAGE from the UTF-8 write-back, after both readings were decoded, re-encoded and checked; the handler never runs", async () => {
    const server = await start('reencode');
    const res = await post(server.url);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('INVALID_IMAGE');
    expect(server.seen.runs).toBe(0);
    // The refusal is the write-back's, not sharp's ("could not be decoded to re-encode it").
    expect(server.rejects).toHaveLength(1);
    const [reject] = server.rejects;
    expect(reject).toMatchObject({ code: 'INVALID_IMAGE', status: 422, method: 'POST' });
    expect(reject?.detail).toBe(
      'the sanitized image in a UTF-8 text field is not valid UTF-8: it cannot be handed on',
    );
    // sharp did its part: both readings were re-encoded and the sanitized GIFs checked clean.
    expect(server.scans).toHaveLength(2);
    for (const scan of server.scans) {
      expect(scan.outcome).toBe('clean');
      expect(scan.file).toMatchObject({
        field: 'gif',
        mimetype: 'image/gif',
        width: UTF8_GIF_SIDE,
        height: UTF8_GIF_SIDE,
      });
      expect([sha256(SENT), sha256(AS_LATIN1)]).not.toContain(scan.file.sha256);
    }
    expect(server.errors).toEqual([]);
  });

  it("'none': the same field passes, checked in both readings, and the handler gets its text unchanged", async () => {
    const server = await start('none');
    const res = await post(server.url);
    expect(res.status).toBe(200);
    expect(server.seen).toEqual({ runs: 1, unchanged: true, sha256: sha256(SENT) });
    expect(res.body.photodna.status).toBe('clean');
    const files = res.body.photodna.files as Array<Record<string, unknown>>;
    expect(files.map((file) => file.sha256).sort()).toEqual(
      [sha256(SENT), sha256(AS_LATIN1)].sort(),
    );
    for (const file of files) {
      expect(file).toMatchObject({
        field: 'gif',
        mimetype: 'image/gif',
        width: UTF8_GIF_SIDE,
        height: UTF8_GIF_SIDE,
        isMatch: false,
      });
    }
    expect(server.rejects).toEqual([]);
    expect(server.errors).toEqual([]);
  });
});
