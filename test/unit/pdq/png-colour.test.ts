/**
 * Which of a PNG's colour chunks Chromium draws it through (`gAMA`, `cHRM`, `sRGB`; an `iCCP` it
 * cannot read), on real files: the rules `pngColourSpace` follows, then each file as Chromium
 * shows it against the stored pixels drawn by those rules (within a level, skcms's rounding).
 */
import { deflateSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pngChunk } from '../../../src/emulator/png-encode.js';
import { drawInSrgb, primariesToXyzD50, SRGB_TO_XYZ_D50 } from '../../../src/pdq/colour-space.js';
import type { RawImage } from '../../../src/pdq/luma.js';
import { pngColourSpace } from '../../../src/pdq/png-colour.js';
import { describeWithChromium, launchChromium } from '../../console/requires-chromium.js';
import { afterIhdr, BLUE_ONLY_CHRM, u32, withWrongCrc } from '../../fixtures/shown-otherwise.js';
import { pixelsShown } from '../../helpers/chromium-pixels.js';

const SIDE = 64;
/** 8-bit RGB: red, green and blue ramps apart, so that a channel drawn alone shows. */
const STORED: RawImage = {
  data: Uint8Array.from({ length: SIDE * SIDE * 3 }, (_, i) => {
    const x = Math.floor(i / 3) % SIDE;
    const y = Math.floor(i / 3 / SIDE);
    return [x * 4, (x * 4 + y * 2) & 255, y * 4][i % 3] as number;
  }),
  width: SIDE,
  height: SIDE,
  channels: 3,
};
let base = Buffer.alloc(0);
beforeAll(async () => {
  base = await sharp(STORED.data, { raw: { width: SIDE, height: SIDE, channels: 3 } })
    .png()
    .toBuffer();
});

const gAMA = (value: number) => pngChunk('gAMA', u32(value));
const cHRM = (data: Buffer = BLUE_ONLY_CHRM) => pngChunk('cHRM', data);
const sRGB = (intent = 0) => pngChunk('sRGB', Buffer.from([intent]));
/** An iCCP chunk whose profile is not an ICC profile: Chromium skips it. */
const garbageIccp = pngChunk(
  'iCCP',
  Buffer.concat([Buffer.from('x\0\0', 'latin1'), deflateSync(Buffer.from('not a profile'))]),
);
/** `base` with `chunks` after its IDAT, before IEND. */
const afterIdat = (...chunks: Buffer[]) =>
  Buffer.concat([base.subarray(0, -12), ...chunks, base.subarray(-12)]);

const BLUE = primariesToXyzD50({
  white: [0.3127, 0.329],
  red: [0.64, 0.0001],
  green: [0.3, 0.0001],
  blue: [0.3127, 0.329],
});

/** sRGB's own primaries and white point, as a cHRM chunk states them. */
const SRGB_CHRM = primariesToXyzD50({
  white: [0.3127, 0.329],
  red: [0.64, 0.33],
  green: [0.3, 0.6],
  blue: [0.15, 0.06],
});

/** A file, and the gamma and matrix Chromium draws it with (none: as stored). */
type Case = [name: string, file: () => Buffer, drawn?: { gamma: number; toXyzD50: number[] }];
const blue = (gamma: number) => ({ gamma, toXyzD50: BLUE as number[] });
const srgbPrimaries = (gamma: number) => ({ gamma, toXyzD50: [...SRGB_TO_XYZ_D50] });

const CASES: Case[] = [
  ['gAMA 1.0 and cHRM', () => afterIhdr(base, gAMA(100000), cHRM()), blue(1)],
  ['gAMA 1/2.2 and cHRM', () => afterIhdr(base, gAMA(45455), cHRM()), blue(0.45455)],
  ['cHRM alone', () => afterIhdr(base, cHRM())],
  ['gAMA 1.0 alone (sRGB primaries)', () => afterIhdr(base, gAMA(100000)), srgbPrimaries(1)],
  ['gAMA 0.3 alone', () => afterIhdr(base, gAMA(30000)), srgbPrimaries(0.3)],
  ['gAMA 1/2.2 alone (neutral)', () => afterIhdr(base, gAMA(45455))],
  ['sRGB first', () => afterIhdr(base, sRGB(), gAMA(100000), cHRM())],
  ['sRGB last', () => afterIhdr(base, gAMA(100000), cHRM(), sRGB())],
  [
    'sRGB with a wrong CRC',
    () => afterIhdr(base, withWrongCrc(sRGB()), gAMA(100000), cHRM()),
    blue(1),
  ],
  ['sRGB of intent 9', () => afterIhdr(base, sRGB(9), gAMA(100000), cHRM()), blue(1)],
  ['sRGB of intent 9, then 0', () => afterIhdr(base, sRGB(9), sRGB(0), gAMA(100000), cHRM())],
  [
    'cHRM with a wrong CRC',
    () => afterIhdr(base, gAMA(100000), withWrongCrc(cHRM())),
    srgbPrimaries(1),
  ],
  ['gAMA with a wrong CRC', () => afterIhdr(base, withWrongCrc(gAMA(100000)), cHRM())],
  ['gAMA and cHRM after IDAT', () => afterIdat(gAMA(100000), cHRM())],
  ['sRGB after IDAT', () => afterIhdr(afterIdat(sRGB()), gAMA(100000), cHRM()), blue(1)],
  [
    'two cHRM: the first counts',
    () =>
      afterIhdr(
        base,
        gAMA(100000),
        cHRM(u32(31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
        cHRM(),
      ),
    { gamma: 1, toXyzD50: SRGB_CHRM as number[] },
  ],
  [
    'two gAMA: the first counts',
    () => afterIhdr(base, gAMA(45455), gAMA(100000), cHRM()),
    blue(0.45455),
  ],
  ['gAMA 0, then 1.0', () => afterIhdr(base, gAMA(0), gAMA(100000), cHRM()), blue(1)],
  [
    'a cHRM of 31 bytes, then one of 32',
    () => afterIhdr(base, gAMA(100000), cHRM(BLUE_ONLY_CHRM.subarray(0, 31)), cHRM()),
    blue(1),
  ],
  [
    'a cHRM of 33 bytes',
    () => afterIhdr(base, gAMA(100000), cHRM(Buffer.concat([BLUE_ONLY_CHRM, Buffer.alloc(1)]))),
    srgbPrimaries(1),
  ],
  [
    'a gAMA of 5 bytes',
    () => afterIhdr(base, pngChunk('gAMA', Buffer.concat([u32(100000), Buffer.alloc(1)])), cHRM()),
  ],
  [
    'an iCCP Chromium cannot read',
    () => afterIhdr(base, garbageIccp, gAMA(100000), cHRM()),
    blue(1),
  ],
  [
    'a primary outside 0–1',
    () =>
      afterIhdr(base, gAMA(100000), cHRM(u32(31270, 32900, 164000, 10, 30000, 10, 31270, 32900))),
  ],
];

describe('pngColourSpace: the gAMA/cHRM rules Chromium follows', () => {
  it.each(CASES)('%s', (_, file, drawn) => {
    const space = pngColourSpace(file());
    if (!drawn) {
      expect(space).toBeUndefined();
      return;
    }
    expect(space?.gamma).toBeCloseTo(drawn.gamma, 6);
    (space?.toXyzD50 ?? []).forEach((value, i) => {
      expect(value).toBeCloseTo(drawn.toXyzD50[i] as number, 6);
    });
  });

  it('reads nothing from a PNG without colour chunks', () => {
    expect(pngColourSpace(base)).toBeUndefined();
  });
});

describeWithChromium('pngColourSpace against what Chromium shows', () => {
  let page: Page;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const browser = await launchChromium();
    close = browser.close;
    page = await browser.context.newPage();
  }, 60_000);
  afterAll(() => close?.());

  it.each(CASES)('%s', async (_, file) => {
    const bytes = file();
    const shown = await pixelsShown(page, bytes);
    const space = pngColourSpace(bytes);
    const expected = space ? drawInSrgb(STORED, space) : STORED;
    let largest = 0;
    for (let i = 0; i < SIDE * SIDE; i++) {
      for (let c = 0; c < 3; c++) {
        const difference = Math.abs(
          (shown[i * 4 + c] as number) - (expected.data[i * 3 + c] as number),
        );
        largest = Math.max(largest, difference);
      }
    }
    expect(largest).toBeLessThanOrEqual(1);
  });
});
