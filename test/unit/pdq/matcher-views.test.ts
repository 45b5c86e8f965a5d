/**
 * The PDQ matcher weighs each view of an image on its own (its stored pixels, with their
 * rotations and flips; each way a viewer shows it, colour-managed drawings included): its own
 * quality against `minQuality`, its own nearest allow-list hash against its own nearest listed
 * hash. Real images, real matchers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { createPdqMatcher, type PdqMatcher, pdqDistance, pdqHash } from '../../../src/pdq/index.js';
import { shownThroughColours } from '../../fixtures/shown-otherwise.js';
import { REFERENCE } from './reference-hashes.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/pdq');
const listed = REFERENCE.find((r) => r.file === 'scene1.png')?.dihedral[0] as string;
const SIDE = 256;

const matchers: PdqMatcher[] = [];
afterAll(async () => {
  await Promise.all(matchers.map((m) => m.close()));
});
function matcher(options: Parameters<typeof createPdqMatcher>[0]): PdqMatcher {
  const m = createPdqMatcher({ watch: false, ...options });
  matchers.push(m);
  return m;
}

/** A fixture's grey pixels at SIDE x SIDE. */
async function grey(file: string): Promise<Buffer> {
  return sharp(readFileSync(join(FIXTURES, file)))
    .resize(SIDE, SIDE, { fit: 'fill' })
    .greyscale()
    .raw()
    .toBuffer();
}

/** An RGBA PNG from grey colour values and alpha values (0–255 each, one per pixel). */
function rgbaPng(colour: (i: number) => number, alpha: (i: number) => number): Promise<Buffer> {
  const rgba = Buffer.alloc(SIDE * SIDE * 4);
  for (let i = 0; i < SIDE * SIDE; i++) {
    rgba.fill(Math.round(colour(i)), i * 4, i * 4 + 3);
    rgba[i * 4 + 3] = Math.round(alpha(i));
  }
  return sharp(rgba, { raw: { width: SIDE, height: SIDE, channels: 4 } })
    .png()
    .toBuffer();
}

const overWhite = async (png: Buffer) =>
  (await pdqHash(await sharp(png).flatten({ background: '#ffffff' }).png().toBuffer())).hash;

describe('PDQ matcher: each view weighed on its own', () => {
  it('matches a listed image drawn by the alpha channel over flat colours under minQuality 50', async () => {
    // The colour channels flat black: the stored pixels hash as blank (quality 0), while a white
    // page shows the listed image (quality 100). The blank stored pixels must not veto the page.
    const scene = await grey('scene1.png');
    const hidden = await rgbaPng(
      () => 0,
      (i) => 255 - (scene[i] as number),
    );
    expect((await pdqHash(hidden)).quality).toBeLessThan(50);
    expect(pdqDistance(await overWhite(hidden), listed)).toBeLessThan(31);
    const m = matcher({ lists: [{ name: 'local', hashes: [listed] }], minQuality: 50 });
    expect((await m.matchBytes(hidden)).isMatch).toBe(true);
  });

  it('matches a listed image that a white page shows, though the stored colours are an allow-listed image', async () => {
    // Colours: a released image, darkened (its hash is unchanged by contrast). Alpha: chosen so
    // that over a white page the listed image shows, washed out (255 - a * (255 - c) = shown).
    const released = await grey('scene6.jpg');
    const scene = await grey('scene1.png');
    const colour = (i: number) => 0.3 * (released[i] as number);
    const shown = (i: number) => 128 + 0.4 * (scene[i] as number);
    const crafted = await rgbaPng(colour, (i) => (255 * (255 - shown(i))) / (255 - colour(i)));
    const stored = (await pdqHash(crafted)).hash;
    expect(pdqDistance(await overWhite(crafted), listed)).toBeLessThan(31);
    const m = matcher({
      lists: [{ name: 'local', hashes: [listed] }],
      allowLists: [{ name: 'released', hashes: [stored] }],
    });
    const result = await m.matchBytes(crafted);
    expect(result.isMatch).toBe(true);
    expect(result.pdq.allowedBy).toBeUndefined();
  });

  it.each(['icc', 'chrm', 'bmp-icc'] as const)(
    "matches a listed image that colour information draws from one channel ('%s'), though the stored pixels are an allow-listed image",
    async (how) => {
      // Red and green: a released image (89% of the luma); blue: the listed one, which an ICC
      // profile (PNG, BMP) or PNG's cHRM and gAMA draw alone, in grey.
      const released = await sharp(await grey('scene6.jpg'), {
        raw: { width: SIDE, height: SIDE, channels: 1 },
      })
        .png()
        .toBuffer();
      const scene = await sharp(await grey('scene1.png'), {
        raw: { width: SIDE, height: SIDE, channels: 1 },
      })
        .png()
        .toBuffer();
      const crafted = await shownThroughColours(released, scene, how);
      const result = await pdqHash(crafted);
      expect(pdqDistance(result.hash, listed)).toBeGreaterThan(64);
      expect(result.shown).toHaveLength(1);
      expect(pdqDistance(result.shown?.[0]?.hash as string, listed)).toBeLessThan(31);
      const m = matcher({
        lists: [{ name: 'local', hashes: [listed] }],
        allowLists: [{ name: 'released', hashes: [result.hash] }],
        minQuality: 50,
      });
      const matched = await m.matchBytes(crafted);
      expect(matched.isMatch).toBe(true);
      expect(matched.pdq.allowedBy).toBeUndefined();
    },
  );

  it('still allows a released image that a page shows as itself, and matches nothing unrelated', async () => {
    // A translucent false positive released: every view of it is nearest its own allow-list hash.
    const scene = await grey('scene6.jpg');
    const half = await rgbaPng(
      (i) => scene[i] as number,
      () => 128,
    );
    const result = await pdqHash(half);
    const nearListed = matcher({ lists: [{ name: 'local', hashes: [result.hash] }] });
    expect((await nearListed.matchBytes(half)).isMatch).toBe(true);
    const released = matcher({
      lists: [{ name: 'local', hashes: [result.hash] }],
      allowLists: [{ name: 'released', hashes: [result.hash] }],
    });
    const allowed = await released.matchBytes(half);
    expect(allowed).toMatchObject({ isMatch: false, matchFlags: [] });
    expect(allowed.pdq.allowedBy).toBe('released');
  });
});
