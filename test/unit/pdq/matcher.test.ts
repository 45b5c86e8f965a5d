/**
 * `createPdqMatcher` on real image files and real list files: matches by Hamming distance with
 * the list name as source, quality floor, allow-lists, dihedral matching, errors as GuardErrors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { DECODING_PIXEL_BUDGET, decodingPixels } from '../../../src/core/pixel-budget.js';
import { pngChunk } from '../../../src/emulator/png-encode.js';
import { GuardError, InvalidOptionsError } from '../../../src/errors.js';
import { type ColourSpace, drawInSrgb } from '../../../src/pdq/colour-space.js';
import {
  createPdqMatcher,
  type PdqMatcher,
  pdqDistance,
  pdqHash,
  pdqHashDihedral,
} from '../../../src/pdq/index.js';
import { pngColourSpace } from '../../../src/pdq/png-colour.js';
import { afterIhdr, u32 } from '../../fixtures/shown-otherwise.js';
import { until } from '../../helpers/until.js';
import { REFERENCE } from './reference-hashes.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/pdq');
const fixture = (name: string) => readFileSync(join(FIXTURES, name));
const hashOf = (file: string) => REFERENCE.find((r) => r.file === file)?.dihedral[0] as string;

const dir = mkdtempSync(join(tmpdir(), 'pdq-matcher-'));
const matchers: PdqMatcher[] = [];
afterAll(async () => {
  await Promise.all(matchers.map((m) => m.close()));
  rmSync(dir, { recursive: true, force: true });
});

function matcher(options: Parameters<typeof createPdqMatcher>[0]): PdqMatcher {
  const m = createPdqMatcher({ watch: false, ...options });
  matchers.push(m);
  return m;
}

const listFile = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('createPdqMatcher', () => {
  const known = listFile('known.txt', `# test list\npdq ${hashOf('scene1.png')}\n`);
  const csv = listFile(
    'known.csv',
    `id,hash,violations\ncase-9,${hashOf('scene4-rgb24.bmp')},A1 B2\n`,
  );

  it('matches a re-encoded copy of a listed image, naming the list and the distance', async () => {
    const m = matcher({ lists: { ncmec: known, partner: csv } });
    await m.ready;
    const result = await m.matchBytes(fixture('scene1.jpg'));
    expect(result.isMatch).toBe(true);
    expect(result.matchFlags).toHaveLength(1);
    const [flag] = result.matchFlags;
    expect(flag?.source).toBe('ncmec');
    expect(flag?.matchId).toBe(hashOf('scene1.png'));
    expect(flag?.matchDistance).toBeGreaterThan(0);
    expect(flag?.matchDistance).toBeLessThanOrEqual(31);
    expect(result.pdq.quality).toBe(100);
    expect(result.trackingId).toMatch(/^pdq-/);
  });

  it('carries CSV metadata and violations on the flag', async () => {
    const m = matcher({ lists: [{ name: 'partner', path: csv }] });
    const result = await m.matchBytes(fixture('scene4-pal8.bmp'));
    expect(result.matchFlags[0]).toMatchObject({
      source: 'partner',
      violations: ['A1', 'B2'],
      metadata: { id: 'case-9', violations: 'A1 B2' },
    });
  });

  it('does not match an unrelated image, nor beyond the threshold', async () => {
    const m = matcher({ lists: { ncmec: known } });
    expect((await m.matchBytes(fixture('scene6.jpg'))).isMatch).toBe(false);
    const strict = matcher({ lists: { ncmec: known }, threshold: 0 });
    expect((await strict.matchBytes(fixture('scene1.jpg'))).isMatch).toBe(false);
    expect((await strict.matchBytes(fixture('scene1.png'))).matchFlags[0]?.matchDistance).toBe(0);
  });

  it('compares every hash by default, and never matches below a minQuality the host sets', async () => {
    const m = matcher({ lists: [{ name: 'l', hashes: [hashOf('gradient.png')] }] });
    expect(await m.matchBytes(fixture('gradient.png'))).toMatchObject({
      isMatch: true,
      pdq: { quality: 0, hash: hashOf('gradient.png') },
    });
    const floored = matcher({
      lists: [{ name: 'l', hashes: [hashOf('gradient.png')] }],
      minQuality: 50,
    });
    expect(await floored.matchBytes(fixture('gradient.png'))).toMatchObject({
      isMatch: false,
      pdq: { quality: 0, hash: hashOf('gradient.png') },
    });
  });

  it('lets an allow-list suppress a known false positive', async () => {
    const allow = listFile('allow.txt', `${hashOf('scene1.png')}\n`);
    const m = matcher({ lists: { ncmec: known }, allowLists: { reviewed: allow } });
    const result = await m.matchBytes(fixture('scene1.jpg'));
    expect(result).toMatchObject({
      isMatch: false,
      matchFlags: [],
      pdq: { allowedBy: 'reviewed' },
    });
  });

  it('a released false positive never allows the listed image it was near: only what is at least as near to it', async () => {
    const listed = hashOf('scene1.png');
    // The benign upload that matched at distance 25 and that a moderator released.
    const released = flipBits(listed, 25);
    const m = matcher({
      lists: [{ name: 'ncmec', hashes: [listed] }],
      allowLists: [{ name: 'released', hashes: [released] }],
    });
    const original = await m.matchBytes(fixture('scene1.png'));
    expect(original.pdq.allowedBy).toBeUndefined();
    expect(original.isMatch).toBe(true);
    expect(original.matchFlags[0]?.matchDistance).toBe(0);
    // The false positive itself (its hash nearer the released one than the listed) stays allowed.
    const other = matcher({
      lists: [{ name: 'ncmec', hashes: [flipBits(listed, 25)] }],
      allowLists: [{ name: 'released', hashes: [listed] }],
    });
    expect((await other.matchBytes(fixture('scene1.png'))).pdq.allowedBy).toBe('released');
  });

  it('matches rotated and mirrored copies only with dihedral: true', async () => {
    const rotated = await sharp(fixture('scene1.png')).rotate(90).png().toBuffer();
    const mirrored = await sharp(fixture('scene1.png')).flop().png().toBuffer();
    const plain = matcher({ lists: { ncmec: known } });
    expect((await plain.matchBytes(rotated)).isMatch).toBe(false);
    const dihedral = matcher({ lists: { ncmec: known }, dihedral: true });
    expect((await dihedral.matchBytes(rotated)).isMatch).toBe(true);
    expect((await dihedral.matchBytes(mirrored)).isMatch).toBe(true);
  });

  it('hashes a file tagged with an EXIF orientation as shown too, beside its stored pixels', async () => {
    const original = fixture('scene1.png');
    for (const orientation of [2, 3, 4, 5, 6, 7, 8]) {
      const stored = await sharp(original).withMetadata({ orientation }).png().toBuffer();
      const shown = await sharp(stored).rotate().png().toBuffer();
      const { hash, quality } = await pdqHash(shown, { pool: false });
      const expected = { hash, quality };
      // Exactly the hash of the shown pixels, on the calling thread and in the pool's workers.
      for (const pool of [false, undefined] as const) {
        const result = await pdqHash(stored, pool === false ? { pool } : {});
        expect(result).toEqual({ hash: hashOf('scene1.png'), quality: 100, shown: [expected] });
      }
      const dihedral = await pdqHashDihedral(stored, { pool: false });
      expect(dihedral.shown).toEqual([expected]);
    }
    expect((await pdqHash(original, { pool: false })).shown).toBeUndefined();
  });

  it('hashes a file with an ICC profile as drawn through it too, beside its stored pixels; a profile that changes no pixel adds no view', async () => {
    const original = fixture('scene1.png');
    // Pixels converted to Display P3 and tagged so: stored, they are not the image shown.
    const p3 = await sharp(original).withIccProfile('p3').png().toBuffer();
    const stored = await pdqHash(await sharp(p3, { ignoreIcc: true }).png().toBuffer(), {
      pool: false,
    });
    const drawn = await pdqHash(await sharp(p3).png().toBuffer(), { pool: false });
    expect(drawn.hash).not.toBe(stored.hash);
    for (const pool of [false, undefined] as const) {
      const result = await pdqHash(p3, pool === false ? { pool } : {});
      // The stored pixels as the reference hashes them, and exactly sharp's drawing beside.
      expect(result).toEqual({
        hash: stored.hash,
        quality: stored.quality,
        shown: [{ hash: drawn.hash, quality: drawn.quality }],
      });
      expect((await pdqHashDihedral(p3, pool === false ? { pool } : {})).shown).toEqual(
        result.shown,
      );
    }
    // At 16 bits too (where sharp draws in Display P3 unless told sRGB).
    const deep = await sharp(original).withIccProfile('p3').toColourspace('rgb16').png().toBuffer();
    const deepDrawn = await pdqHash(await sharp(deep).withIccProfile('srgb').png().toBuffer(), {
      pool: false,
    });
    expect((await pdqHash(deep, { pool: false })).shown).toEqual([
      { hash: deepDrawn.hash, quality: deepDrawn.quality },
    ]);
    expect(pdqDistance(deepDrawn.hash, drawn.hash)).toBeLessThanOrEqual(4);
    // Tagged sRGB, the pixels drawn are the stored ones: nothing more to hash.
    const srgb = await sharp(original).withIccProfile('srgb').png().toBuffer();
    expect(await pdqHash(srgb, { pool: false })).toEqual({
      hash: hashOf('scene1.png'),
      quality: 100,
    });
  });

  it('hashes a PNG as drawn through its gAMA and cHRM too, turned by its EXIF orientation as the stored pixels are', async () => {
    const original = fixture('scene1.png');
    const turned = await sharp(original).withMetadata({ orientation: 6 }).png().toBuffer();
    // gAMA 1.0 alone: Chromium draws the pixels as linear sRGB, brighter.
    const gama = pngChunk('gAMA', u32(100000));
    const bright = afterIhdr(turned, gama);
    const { data, info } = await sharp(original).raw().toBuffer({ resolveWithObject: true });
    const space = pngColourSpace(bright) as ColourSpace;
    const drawn = drawInSrgb({ ...info, data }, space);
    const drawnPng = await sharp(drawn.data, { raw: { ...info, channels: 3 } })
      .rotate(90)
      .png()
      .toBuffer();
    const expected = await pdqHash(drawnPng, { pool: false });
    const upright = (await pdqHash(await sharp(turned).rotate().png().toBuffer(), { pool: false }))
      .hash;
    for (const pool of [false, undefined] as const) {
      const result = await pdqHash(bright, pool === false ? { pool } : {});
      expect(result.hash).toBe(hashOf('scene1.png'));
      expect(result.shown?.map((view) => view.hash)).toEqual([upright, expected.hash]);
    }
  });

  it('hashes a transparent image over a white and a black page too; an opaque alpha channel changes nothing', async () => {
    const original = fixture('scene1.png');
    const opaque = await sharp(original).ensureAlpha(1).png().toBuffer();
    expect(await pdqHash(opaque, { pool: false })).toEqual({
      hash: hashOf('scene1.png'),
      quality: 100,
    });
    const half = await sharp(original).ensureAlpha(0.5).png().toBuffer();
    const over = async (background: string) =>
      (await pdqHash(await sharp(half).flatten({ background }).png().toBuffer(), { pool: false }))
        .hash;
    for (const pool of [false, undefined] as const) {
      const result = await pdqHash(half, pool === false ? { pool } : {});
      // The colour channels as the reference hashes them, then each page within a bit or two
      // (sharp rounds the flattened pixels to 8 bits, the hash's luma does not).
      expect(result.hash).toBe(hashOf('scene1.png'));
      const [white, black] = result.shown ?? [];
      expect(pdqDistance(white?.hash as string, await over('#ffffff'))).toBeLessThanOrEqual(4);
      expect(pdqDistance(black?.hash as string, await over('#000000'))).toBeLessThanOrEqual(4);
    }
  });

  it('answers INVALID_IMAGE for undecodable bytes and IMAGE_TOO_LARGE above maxPixels', async () => {
    const m = matcher({ lists: { ncmec: known }, maxPixels: 10_000 });
    const png = fixture('scene1.png');
    await expect(m.matchBytes(png)).rejects.toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    const truncated = matcher({ lists: { ncmec: known } });
    const cut = Buffer.concat([png.subarray(0, png.length / 3), Buffer.alloc(64)]);
    await expect(truncated.matchBytes(cut)).rejects.toMatchObject({ code: 'INVALID_IMAGE' });
    await expect(truncated.matchBytes(Buffer.from('not an image'))).rejects.toBeInstanceOf(
      GuardError,
    );
  });

  it('fails closed with SCAN_UNAVAILABLE while a list is missing', async () => {
    const path = join(dir, 'later.txt');
    const m = matcher({ lists: { later: path } });
    await expect(m.ready).rejects.toThrow(/later\.txt/);
    await expect(m.matchBytes(fixture('scene1.png'))).rejects.toMatchObject({
      code: 'SCAN_UNAVAILABLE',
      reason: 'not-configured',
    });
    writeFileSync(path, `pdq ${hashOf('scene1.png')}\n`);
    await m.reload('later');
    expect((await m.matchBytes(fixture('scene1.png'))).isMatch).toBe(true);
  });

  it('rejects invalid options by path', () => {
    expect(() => createPdqMatcher({ lists: {}, threshold: 300 })).toThrow(InvalidOptionsError);
    expect(() => createPdqMatcher({ lists: {}, treshold: 3 } as never)).toThrow(/treshold/);
  });
});

/** `hash` with its first `n` bits flipped. */
function flipBits(hash: string, n: number): string {
  const digits = hash.split('').map((d) => Number.parseInt(d, 16));
  for (let i = 0; i < n; i++) digits[i >> 2] = (digits[i >> 2] as number) ^ (1 << (i & 3));
  return digits.map((d) => d.toString(16)).join('');
}

describe('PDQ decoding and the process pixel budget', () => {
  it('waits its turn while the budget is held, and leaves the queue when its caller gives up', async () => {
    let release: () => void = () => {};
    const held = decodingPixels.run(
      DECODING_PIXEL_BUDGET,
      () => new Promise<void>((resolve) => (release = resolve)),
    );
    const abort = new AbortController();
    const hashing = pdqHash(fixture('scene1.png'), { pool: false, signal: abort.signal });
    await until(() => decodingPixels.waiting === 1, 'the decode waiting');
    abort.abort(new Error('the uploader left'));
    await expect(hashing).rejects.toThrow('the uploader left');
    expect(decodingPixels.waiting).toBe(0);
    release();
    await held;
    // With the budget free, the same image hashes at once.
    expect((await pdqHash(fixture('scene1.png'), { pool: false })).hash).toBe(hashOf('scene1.png'));
  });
});
