import { createHash } from 'node:crypto';
import sharp from 'sharp';
import request from 'supertest';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GuardOptions, MatchEvent, RejectEvent } from '../../src/index.js';
import { pdqHash } from '../../src/pdq/hash.js';
import { pdqDistance } from '../../src/pdq/pdq-index.js';
import { describeWithChromium, launchChromium } from '../console/requires-chromium.js';
import { png } from '../fixtures/images.js';
import { apng, shownThroughColours, tiffPages } from '../fixtures/shown-otherwise.js';
import { type Adapter, adapters, type Running } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { pixelsShown } from '../helpers/chromium-pixels.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

/**
 * Files whose image as viewers show it is not the one a plain decoder reads: the known image is
 * what a browser or an OS viewer shows, a harmless one what PhotoDNA would be shown. The emulator
 * (its `pdq` option: a stand-in for PhotoDNA's robust hash, decoding with sharp as a plain
 * decoder does) knows the hidden image. Every adapter.
 */

expectNoTempFiles();
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const HIDDEN = knownImage(); // 320x320, 8-bit RGB
const DECOY = png(320, 320, 4501);
const emu = useEmulator({ rateLimit: false, pdq: true });
const MODES = ['none', 'metadata', 'reencode'] as const;
let hiddenPdq = '';
beforeAll(async () => {
  hiddenPdq = (await pdqHash(HIDDEN, { pool: false })).hash;
});

describe.each([...adapters, ...scanAdapters])(
  'images shown otherwise on $name',
  (adapter: Adapter) => {
    const running: Running[] = [];
    afterEach(async () => {
      await Promise.all(running.splice(0).map((r) => r.close()));
    });
    async function start(options: GuardOptions) {
      const server = await adapter.start(options, [{ path: '/upload' }], { global: true });
      running.push(server);
      const rejects: RejectEvent[] = [];
      const matches: MatchEvent[] = [];
      server.guard.on('reject', (e) => rejects.push(e)).on('match', (e) => matches.push(e));
      return { server, rejects, matches };
    }

    it.each(MODES)(
      "unchecked frames: an APNG whose default image is not its first frame (browsers show the fdAT frame alone) is 422 INVALID_IMAGE under sanitize '%s', never checked",
      async (sanitize) => {
        const { server, rejects, matches } = await start(emu.options({ sanitize }));
        for (const layout of ['frames-only', 'frames-only-crc'] as const) {
          const res = await request(server.url)
            .post('/upload')
            .attach('f', apng(DECOY, HIDDEN, layout), 'a.png');
          expect(res.status, layout).toBe(422);
          expect(res.body.error.code, layout).toBe('INVALID_IMAGE');
          expect(rejects.at(-1)?.detail, layout).toMatch(/default image is not its first frame/);
        }
        expect(matches).toHaveLength(0); // refused as unreadable, not checked
        expect(server.log.runs).toBe(0);
      },
    );

    it('unchecked frames: an APNG whose default image is its first frame passes; its later frames are not checked (documented)', async () => {
      const { server } = await start(emu.options());
      const still = apng(DECOY, HIDDEN, 'still-first');
      const res = await request(server.url).post('/upload').attach('f', still, 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.files[0].sha256).toBe(sha256(still));
    });

    it.each(MODES)(
      "unchecked pages: a TIFF of two pages (the known image second) is 422 INVALID_IMAGE under sanitize '%s', never checked",
      async (sanitize) => {
        const twoPages = await tiffPages(DECOY, HIDDEN);
        // A viewer pages to the second image; sharp reads it when asked (`page`, `pages: -1`).
        expect((await sharp(twoPages).metadata()).pages).toBe(2);
        const { server, rejects, matches } = await start(emu.options({ sanitize }));
        const res = await request(server.url).post('/upload').attach('f', twoPages, 'a.tif');
        expect(res.status).toBe(422);
        expect(res.body.error.code).toBe('INVALID_IMAGE');
        expect(rejects.at(-1)?.detail).toMatch(/more than one image/);
        expect(matches).toHaveLength(0);
        expect(server.log.runs).toBe(0);
        // One page of the same images passes: the refusal is of the second page.
        const onePage = await request(server.url)
          .post('/upload')
          .attach('f', await tiffPages(DECOY), 'a.tif');
        expect(onePage.status).toBe(200);
      },
    );

    it("shown through an ICC profile, PhotoDNA alone: 'reencode' checks the image as shown (the known image matches); 'none' and 'metadata' hand on the profile (documented)", async () => {
      const profiled = await shownThroughColours(DECOY, HIDDEN, 'icc');
      const reencoding = await start(emu.options({ sanitize: 'reencode' }));
      const res = await request(reencoding.server.url)
        .post('/upload')
        .attach('f', profiled, 'a.png');
      expect(res.status).toBe(422);
      expect(reencoding.matches).toHaveLength(1);
      expect(reencoding.server.log.runs).toBe(0);
      for (const sanitize of ['none', 'metadata'] as const) {
        const { server } = await start(emu.options({ sanitize }));
        const passed = await request(server.url).post('/upload').attach('f', profiled, 'a.png');
        expect(passed.status, sanitize).toBe(200);
        expect(passed.body.files[0].sha256, sanitize).toBe(sha256(profiled)); // nothing stripped
      }
    });

    it("shown through PNG's cHRM and gAMA, PhotoDNA alone: 'reencode' checks and hands on the stored pixels without them (shown as checked); 'none' and 'metadata' keep them (documented)", async () => {
      const tinted = await shownThroughColours(DECOY, HIDDEN, 'chrm');
      const matcher = new RecordingMatcher();
      const reencoding = await start({ matcher, sanitize: 'reencode' });
      const res = await request(reencoding.server.url).post('/upload').attach('f', tinted, 'a.png');
      expect(res.status).toBe(200);
      const checked = matcher.calls[0]?.bytes as Buffer;
      expect(res.body.files[0].sha256).toBe(sha256(checked));
      for (const chunk of ['cHRM', 'gAMA']) expect(checked.includes(chunk), chunk).toBe(false);
      for (const sanitize of ['none', 'metadata'] as const) {
        const { server } = await start(emu.options({ sanitize }));
        const passed = await request(server.url).post('/upload').attach('f', tinted, 'a.png');
        expect(passed.status, sanitize).toBe(200);
        expect(passed.body.files[0].sha256, sanitize).toBe(sha256(tinted));
      }
    });

    it.each(MODES)(
      "shown through colour information, with PDQ: the known image that an ICC profile (PNG, BMP) or PNG's cHRM and gAMA draw from the blue channel is 422 under sanitize '%s' (PDQ hashes the image as drawn too)",
      async (sanitize) => {
        // Hashed on the test's thread (`pool: false`): the worker pool is tested on its own.
        const lists = [{ name: 'known', hashes: [hiddenPdq] }];
        const pdq = { mode: 'both' as const, lists, pool: false as const, watch: false };
        const { server, matches } = await start(emu.options({ sanitize, pdq }));
        for (const how of ['icc', 'chrm', 'bmp-icc'] as const) {
          const file = await shownThroughColours(DECOY, HIDDEN, how);
          const name = how === 'bmp-icc' ? 'a.bmp' : 'a.png';
          const res = await request(server.url).post('/upload').attach('f', file, name);
          if (sanitize === 'reencode' && how !== 'icc') {
            // Re-encoded without cHRM and gAMA (a BMP as a PNG without its profile), the file
            // handed on shows its stored pixels: as checked.
            expect(res.status, how).toBe(200);
            continue;
          }
          expect(res.status, how).toBe(422);
          expect(res.body.error.code, how).toBe('INVALID_IMAGE'); // a match looks unreadable
          expect(
            matches.at(-1)?.matchFlags.map((flag) => flag.algorithm),
            how,
          ).toContain('pdq');
        }
        expect(server.log.runs).toBe(sanitize === 'reencode' ? 2 : 0);
      },
    );
  },
);

/**
 * Why those files are refused or hashed as drawn: what Chromium shows of each, against what sharp
 * (a plain decoder, as PhotoDNA's) reads and what PDQ hashes. PDQ distances: 0–31 the same
 * picture, above 90 another.
 */
describeWithChromium('what a browser shows of them (Chromium)', () => {
  const shown: Record<string, Buffer> = {};
  beforeAll(async () => {
    const files = {
      'frames-only': apng(DECOY, HIDDEN, 'frames-only'),
      'frames-only-crc': apng(DECOY, HIDDEN, 'frames-only-crc'),
      'still-first': apng(DECOY, HIDDEN, 'still-first'),
      icc: await shownThroughColours(DECOY, HIDDEN, 'icc'),
      chrm: await shownThroughColours(DECOY, HIDDEN, 'chrm'),
      'bmp-icc': await shownThroughColours(DECOY, HIDDEN, 'bmp-icc'),
    };
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      for (const [name, bytes] of Object.entries(files)) {
        const rgba = await pixelsShown(page, bytes, name === 'bmp-icc' ? 'image/bmp' : 'image/png');
        shown[name] = await sharp(rgba, {
          raw: { width: 320, height: 320, channels: 4 },
        })
          .png()
          .toBuffer();
      }
    } finally {
      await browser.close();
    }
  }, 60_000);
  const distance = async (a: Buffer, b: Buffer) =>
    pdqDistance((await pdqHash(a, { pool: false })).hash, (await pdqHash(b, { pool: false })).hash);

  it.each(['frames-only', 'frames-only-crc'] as const)(
    "an APNG '%s': Chromium shows the known image; sharp reads the harmless IDAT image",
    async (layout) => {
      expect(await distance(shown[layout] as Buffer, HIDDEN)).toBeLessThan(32);
      const decoded = await sharp(apng(DECOY, HIDDEN, layout))
        .png()
        .toBuffer();
      expect(await distance(decoded, DECOY)).toBeLessThan(32);
    },
  );

  it("an APNG 'still-first': Chromium shows the IDAT image first", async () => {
    expect(await distance(shown['still-first'] as Buffer, DECOY)).toBeLessThan(32);
  });

  it("a PNG whose ICC profile draws its blue channel: Chromium and sharp show the known image; its stored pixels' PDQ is not the known image's", async () => {
    const profiled = await shownThroughColours(DECOY, HIDDEN, 'icc');
    expect(await distance(shown.icc as Buffer, HIDDEN)).toBeLessThan(32);
    expect(await distance(await sharp(profiled).png().toBuffer(), HIDDEN)).toBeLessThan(32);
    expect(await distance(profiled, HIDDEN)).toBeGreaterThan(64);
  });

  it('a PNG whose cHRM primaries draw its blue channel: Chromium shows the known image; sharp reads the stored pixels', async () => {
    const tinted = await shownThroughColours(DECOY, HIDDEN, 'chrm');
    expect(await distance(shown.chrm as Buffer, HIDDEN)).toBeLessThan(32);
    expect(await distance(await sharp(tinted).png().toBuffer(), HIDDEN)).toBeGreaterThan(64);
  });

  it('a BMP whose V5 header embeds that profile: Chromium shows the known image; its stored pixels are the harmless image', async () => {
    const profiled = await shownThroughColours(DECOY, HIDDEN, 'bmp-icc');
    expect(await distance(shown['bmp-icc'] as Buffer, HIDDEN)).toBeLessThan(32);
    expect(await distance(profiled, HIDDEN)).toBeGreaterThan(64);
  });

  it.each(['icc', 'chrm', 'bmp-icc'] as const)(
    "PDQ hashes the '%s' file as Chromium draws it too: its colour-managed view is Chromium's picture",
    async (how) => {
      const file = await shownThroughColours(DECOY, HIDDEN, how);
      const { shown: views } = await pdqHash(file, { pool: false });
      const chromium = (await pdqHash(shown[how] as Buffer, { pool: false })).hash;
      expect(views).toHaveLength(1);
      expect(pdqDistance(views?.[0]?.hash as string, chromium)).toBeLessThanOrEqual(4);
    },
  );
});
