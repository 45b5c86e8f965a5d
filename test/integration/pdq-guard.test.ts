/**
 * The PDQ matcher behind the guard's existing `matcher` seam, over real HTTP: a re-encoded copy
 * of a listed image is rejected without revealing why, an unrelated image reaches the handler.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { createPdqMatcher, pdqDistance, pdqHash } from '../../src/pdq/index.js';
import { gifFrameBeyondScreen, png } from '../fixtures/images.js';
import { encodeBmpRgba } from '../fixtures/pdq/bmp-encode.js';
import { appWith, guarded } from '../helpers/express-app.js';
import { REFERENCE } from '../unit/pdq/reference-hashes.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/pdq');
const listed = REFERENCE.find((r) => r.file === 'scene1.png')?.dihedral[0] as string;

describe('guard with createPdqMatcher (no PhotoDNA key)', () => {
  const matcher = createPdqMatcher({ lists: [{ name: 'local', hashes: [listed] }], watch: false });
  const guard = photodnaGuard({ matcher, policy: 'block' });
  const { app, log } = appWith(guarded(guard));
  afterAll(() => guard.close());

  it('rejects a re-encoded copy of a listed image with the generic answer', async () => {
    const res = await request(app)
      .post('/upload')
      .attach('file', readFileSync(join(FIXTURES, 'scene1.jpg')), 'holiday.jpg');
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('INVALID_IMAGE'); // a match looks like an unreadable image
    expect(JSON.stringify(res.body)).not.toMatch(/pdq|local|match/i);
    expect(log.runs).toBe(0);
  });

  it('rejects a washed-out copy of a listed image, though its PDQ quality is low', async () => {
    // The contrast lowered to a quarter (anyone can restore it): quality falls far below Meta's
    // recommended floor of 50 while the hash stays within a few bits of the listed one.
    const washedOut = await sharp(readFileSync(join(FIXTURES, 'scene1.png')))
      .linear(0.25, 96)
      .png()
      .toBuffer();
    expect((await pdqHash(washedOut, { pool: false })).quality).toBeLessThan(50);
    const before = log.runs;
    const res = await request(app).post('/upload').attach('file', washedOut, 'pale.png');
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('INVALID_IMAGE');
    expect(log.runs).toBe(before);
  });

  it('lets an unrelated image through as clean', async () => {
    const res = await request(app)
      .post('/upload')
      .attach('file', readFileSync(join(FIXTURES, 'scene6.jpg')), 'cat.jpg');
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('clean');
    expect(res.body.photodna.files[0]).toMatchObject({ isMatch: false, matchFlags: [] });
  });

  it.each([2, 3, 4, 5, 6, 7, 8])(
    'rejects a listed image stored turned, that its EXIF orientation %i shows upright',
    async (orientation) => {
      // Stored as the inverse turn (6 and 8 undo each other, the others undo themselves) and
      // tagged: every browser shows the listed image itself, not a rotated copy of it.
      const inverse = orientation === 6 ? 8 : orientation === 8 ? 6 : orientation;
      const original = readFileSync(join(FIXTURES, 'scene1.png'));
      const tagged = await sharp(original).withMetadata({ orientation: inverse }).png().toBuffer();
      const stored = await sharp(await sharp(tagged).rotate().toBuffer())
        .withMetadata({ orientation })
        .jpeg({ quality: 90 })
        .toBuffer();
      const shown = await sharp(stored).rotate().png().toBuffer();
      // What is shown is the listed image (JPEG rounding aside).
      expect(pdqDistance((await pdqHash(shown, { pool: false })).hash, listed)).toBeLessThan(8);
      const before = log.runs;
      const res = await request(app).post('/upload').attach('file', stored, 'phone.jpg');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(log.runs).toBe(before);
    },
  );

  it('rejects a listed image hidden in the alpha channel, that a white or black page shows', async () => {
    // The colour channels one flat colour (nothing to hash: quality 0), the listed image drawn by
    // the alpha channel alone: over the page's background it shows, in grey.
    const { data, info } = await sharp(readFileSync(join(FIXTURES, 'scene1.png')))
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height } = info;
    for (const [ink, background] of [
      [0, '#ffffff'],
      [255, '#000000'],
    ] as const) {
      const rgba = Buffer.alloc(width * height * 4, ink);
      for (let i = 0; i < width * height; i++) {
        rgba[i * 4 + 3] = ink === 0 ? 255 - (data[i] as number) : (data[i] as number);
      }
      const hidden = await sharp(rgba, { raw: { width, height, channels: 4 } })
        .png()
        .toBuffer();
      const shown = await sharp(hidden).flatten({ background }).png().toBuffer();
      expect(pdqDistance((await pdqHash(shown, { pool: false })).hash, listed)).toBeLessThan(20);
      const before = log.runs;
      const res = await request(app).post('/upload').attach('file', hidden, 'sticker.png');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(log.runs).toBe(before);
    }
  });

  it.each([
    [124, 3, 'V5 header, BI_BITFIELDS (every browser)'],
    [108, 0, 'V4 header, BI_RGB with an alpha mask (Chromium)'],
    [40, 6, 'BI_ALPHABITFIELDS (Chromium)'],
  ] as const)(
    'rejects a listed image hidden in a BMP alpha channel: %i-byte header, compression %i (%s)',
    async (header, compression, _browsers) => {
      // The PNG attack above as a 32-bit BMP whose alpha mask browsers draw: flat black colours,
      // the listed image in the alpha channel, shown over a white page.
      const { data, info } = await sharp(readFileSync(join(FIXTURES, 'scene1.png')))
        .greyscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const { width, height } = info;
      const rgba = new Uint8Array(width * height * 4);
      for (let i = 0; i < width * height; i++) rgba[i * 4 + 3] = 255 - (data[i] as number);
      const hidden = encodeBmpRgba(rgba, width, height, { header, compression });
      const shown = await sharp(Buffer.from(rgba), { raw: { width, height, channels: 4 } })
        .flatten({ background: '#ffffff' })
        .png()
        .toBuffer();
      expect(pdqDistance((await pdqHash(shown, { pool: false })).hash, listed)).toBeLessThan(20);
      const before = log.runs;
      const res = await request(app).post('/upload').attach('file', hidden, 'sticker.bmp');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(log.runs).toBe(before);
    },
  );

  it('refuses a GIF whose frame outgrows the screen its header states, and hashes the next upload', async () => {
    // The header says 160x160 (within every limit, below the inline-hashing cut-off); the frame
    // decodes to 3000x3000. Hashed, its 9 million pixels would stall the event loop, outside the
    // pixel budget: refused as the header does not describe it.
    const res = await request(app)
      .post('/upload')
      .attach('file', gifFrameBeyondScreen(160, 3000), 'small.gif');
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('INVALID_IMAGE');
    const next = await request(app).post('/upload').attach('file', png(400, 400), 'next.png');
    expect(next.status).toBe(200);
    expect(next.body.photodna.status).toBe('clean');
  });

  it('flags with the list name and the Hamming distance under policy flag', async () => {
    const flagMatcher = createPdqMatcher({
      lists: [{ name: 'local', hashes: [listed] }],
      watch: false,
    });
    const flagGuard = photodnaGuard({ matcher: flagMatcher, policy: 'flag' });
    const flagged = appWith(guarded(flagGuard));
    try {
      const res = await request(flagged.app)
        .post('/upload')
        .attach('file', readFileSync(join(FIXTURES, 'scene1.png')), 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('match');
      expect(res.body.photodna.files[0].matchFlags).toEqual([
        // The list file gave this hash no metadata; the guard keeps a PDQ flag's metadata.
        { source: 'local', violations: [], matchDistance: 0, matchId: listed, metadata: {} },
      ]);
    } finally {
      await flagGuard.close();
    }
  });
});
