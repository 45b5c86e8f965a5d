import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { startEmulator, testImages } from '../../src/emulator/index.js';
import { InvalidOptionsError } from '../../src/errors.js';
import { emulator, matchImage } from './helpers.js';

/**
 * The emulator's PDQ matching (`pdq: true`): edited copies of known images, produced here with
 * sharp (re-encoded as JPEG, resized, lightly cropped), match as they would on the real service;
 * exact bytes still match at distance 0; unrelated images do not.
 */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/pdq/${name}`, import.meta.url));
const KNOWN = fixture('scene6.jpg'); // 400x300 photo-like scene
const OTHER = fixture('scene1.png'); // another scene, 118 bits away

const edits = {
  'JPEG at quality 60': () => sharp(KNOWN).jpeg({ quality: 60 }).toBuffer(),
  'resized to 60% (PNG)': () => sharp(KNOWN).resize(240).png().toBuffer(),
  'cropped by 1% on each side': () =>
    sharp(KNOWN).extract({ left: 4, top: 4, width: 392, height: 292 }).png().toBuffer(),
};

const flagsOf = (json: {
  IsMatch: boolean;
  MatchDetails: { MatchFlags: Array<{ Source: string; MatchDistance: number }> };
}) => ({ isMatch: json.IsMatch, flags: json.MatchDetails.MatchFlags });

describe('emulator PDQ matching', () => {
  it.each(Object.entries(edits))('with pdq: true, a copy %s matches', async (_, edit) => {
    const emu = await emulator({ pdq: true, known: { images: [KNOWN] } });
    const bytes = await edit();
    const type = bytes[0] === 0xff ? 'image/jpeg' : 'image/png';
    const answer = await matchImage(emu, bytes, type);
    const { isMatch, flags } = flagsOf(answer.json);
    expect(isMatch).toBe(true);
    expect(flags).toHaveLength(1);
    expect(flags[0]?.Source).toBe('Test');
    expect(flags[0]?.MatchDistance).toBeGreaterThan(0);
    expect(flags[0]?.MatchDistance).toBeLessThanOrEqual(31);
  });

  it('exact bytes match at distance 0; an unrelated image does not match', async () => {
    const emu = await emulator({ pdq: true, known: { images: [KNOWN] } });
    expect(flagsOf((await matchImage(emu, KNOWN, 'image/jpeg')).json)).toMatchObject({
      isMatch: true,
      flags: [{ MatchDistance: 0 }],
    });
    expect(flagsOf((await matchImage(emu, OTHER, 'image/png')).json).isMatch).toBe(false);
  });

  it('is off by default: an edited copy does not match, the exact bytes still do', async () => {
    const emu = await emulator({ known: { images: [KNOWN] } });
    const copy = await edits['JPEG at quality 60']();
    expect(flagsOf((await matchImage(emu, copy, 'image/jpeg')).json).isMatch).toBe(false);
    expect(flagsOf((await matchImage(emu, KNOWN, 'image/jpeg')).json).isMatch).toBe(true);
  });

  it('covers the shipped test images too', async () => {
    const emu = await emulator({ pdq: true });
    const image = testImages()[0]?.bytes as Buffer;
    const copy = await sharp(image).jpeg({ quality: 70 }).toBuffer();
    expect(flagsOf((await matchImage(emu, copy, 'image/jpeg')).json).isMatch).toBe(true);
  });

  it('a tighter threshold refuses a copy that moved more bits', async () => {
    const emu = await emulator({ pdq: { threshold: 8 }, known: { images: [KNOWN] } });
    const resized = await edits['resized to 60% (PNG)']();
    expect(flagsOf((await matchImage(emu, resized, 'image/png')).json).isMatch).toBe(false);
  });

  it('rejects a bad pdq option by name', async () => {
    await expect(startEmulator({ pdq: { threshold: 300 } })).rejects.toThrow(InvalidOptionsError);
    await expect(startEmulator({ pdq: { threshold: 300 } })).rejects.toThrow(/pdq\.threshold/);
  });
});
