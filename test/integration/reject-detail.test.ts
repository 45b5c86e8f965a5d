/**
 * A rejection's `detail` (in `reject` and `error` events, and the guard's log lines) names what
 * the uploader chose, such as a field name: its control characters (C1 `\x9b` is a terminal's
 * CSI), line breaks and bidi overrides arrive escaped, so a host printing it cannot be shown a
 * forged line, an erased one or reordered text.
 */
import express from 'express';
import request from 'supertest';
import { expect, it } from 'vitest';
import { photodnaGuard, type RejectEvent } from '../../src/index.js';
import { printable } from '../../src/printable.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';

it('a file too large in a field whose name reads as C1 controls (busboy: latin1): the detail escapes them', async () => {
  const guard = photodnaGuard({ matcher: new RecordingMatcher(), limits: { maxFileSize: 1_000 } });
  const rejects: RejectEvent[] = [];
  guard.on('reject', (e) => void rejects.push(e));
  const app = express();
  app.post('/upload', guard.any(), (_req, res) => res.json({ ok: true }));
  try {
    const field = 'x\u009b2K\u202egnp.exe\u2028forged';
    const res = await request(app)
      .post('/upload')
      .attach(field, png(200, 200, 31), 'a.png');
    expect(res.status).toBe(413);
    const [event] = rejects;
    expect(event?.code).toBe('FILE_TOO_LARGE');
    // busboy reads part headers as latin1: the UTF-8 of U+009B arrives as 'Â' and U+009B itself.
    expect(event?.detail).toContain('\\u009b2K');
    // Nothing left to escape: printing it shows what it says.
    expect(printable(event?.detail ?? '')).toBe(event?.detail);
  } finally {
    await guard.close();
  }
});

it("guard.single('avatar') sent a file in 'photo': the detail names multer's code and the field", async () => {
  const guard = photodnaGuard({ matcher: new RecordingMatcher() });
  const rejects: RejectEvent[] = [];
  guard.on('reject', (e) => void rejects.push(e));
  const app = express();
  app.post('/upload', guard.single('avatar'), (_req, res) => res.json({ ok: true }));
  try {
    const res = await request(app)
      .post('/upload')
      .attach('photo', png(200, 200, 32), 'a.png');
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('LIMIT_EXCEEDED'); // the contract's code, not multer's
    expect(rejects[0]?.detail).toBe("LIMIT_UNEXPECTED_FILE: Unexpected file field (field 'photo')");
  } finally {
    await guard.close();
  }
});
