/**
 * PNG's colour space drawn in sRGB (`gAMA`, `cHRM`), against values worked out by hand from the
 * formulas (sRGB's curve, the primaries' matrix, Bradford to D50) and against skcms's own sRGB
 * matrix. `png-colour.test.ts` checks the same drawing against what Chromium shows.
 */
import { describe, expect, it } from 'vitest';
import {
  type Chromaticities,
  drawInSrgb,
  invert,
  multiply,
  primariesToXyzD50,
  SRGB_TO_XYZ_D50,
  srgbEncode,
} from '../../../src/pdq/colour-space.js';

const D65: [number, number] = [0.3127, 0.329];
const SRGB_PRIMARIES: Chromaticities = {
  white: D65,
  red: [0.64, 0.33],
  green: [0.3, 0.6],
  blue: [0.15, 0.06],
};
/** Red and green without luminance, blue at the white point: only blue draws, in grey. */
const BLUE_ONLY: Chromaticities = {
  white: D65,
  red: [0.64, 0.0001],
  green: [0.3, 0.0001],
  blue: D65,
};

const closeTo = (actual: readonly number[], expected: readonly number[], digits: number) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => {
    expect(value, `entry ${i}`).toBeCloseTo(expected[i] as number, digits);
  });
};

const rgb = (pixels: number[], channels = 3) => ({
  data: Uint8Array.from(pixels),
  width: pixels.length / channels,
  height: 1,
  channels,
});

describe('colour space maths', () => {
  it("sRGB's curve: linear 0.5 is 0.7354 (1.055 * 0.5^(1/2.4) - 0.055), 0.002 is 0.0258 (12.92 * 0.002)", () => {
    expect(srgbEncode(0.5)).toBeCloseTo(0.73536, 5);
    expect(srgbEncode(0.002)).toBeCloseTo(0.02584, 5);
    expect(srgbEncode(0)).toBe(0);
    expect(srgbEncode(1)).toBeCloseTo(1, 10);
  });

  it('inverts a matrix (and refuses a singular one)', () => {
    const m = [2, 0, 0, 0, 4, 0, 1, 0, 1];
    closeTo(invert(m) as number[], [0.5, 0, 0, 0, 0.25, 0, -0.5, 0, 1], 12);
    closeTo(multiply(m, invert(m) as number[]), [1, 0, 0, 0, 1, 0, 0, 0, 1], 12);
    expect(invert([1, 2, 3, 2, 4, 6, 0, 0, 1])).toBeUndefined();
  });

  it("sRGB's primaries and D65 white give skcms's sRGB matrix (XYZ adapted to D50)", () => {
    closeTo(primariesToXyzD50(SRGB_PRIMARIES) as number[], SRGB_TO_XYZ_D50, 3);
  });

  it('blue at the white point, red and green without luminance: only blue draws, as the D50 white', () => {
    // The white point is blue at full (Y = 1), so red and green scale to 0 and blue to 1; Bradford
    // takes that white to D50 (0.96422, 1, 0.82521).
    const m = primariesToXyzD50(BLUE_ONLY) as number[];
    closeTo(m, [0, 0, 0.96422, 0, 0, 1, 0, 0, 0.82521], 6);
  });

  it('refuses what skcms refuses: values outside 0–1, two primaries alike, a white point at y = 0', () => {
    expect(primariesToXyzD50({ ...SRGB_PRIMARIES, red: [1.64, 0.33] })).toBeUndefined();
    expect(primariesToXyzD50({ ...SRGB_PRIMARIES, green: [0.64, 0.33] })).toBeUndefined();
    expect(primariesToXyzD50({ ...SRGB_PRIMARIES, white: [0.3127, 0] })).toBeUndefined();
  });

  it('draws gamma 1 with sRGB primaries brighter: 128 is linear 0.50196, encoded 0.7365, 188', () => {
    const drawn = drawInSrgb(rgb([128, 0, 255]), { gamma: 1, toXyzD50: SRGB_TO_XYZ_D50 });
    expect([...drawn.data]).toEqual([188, 0, 255]);
  });

  it('draws gamma 1/2.2 with sRGB primaries close to stored: 128^2.2 is 0.21953, encoded 0.50587, 129', () => {
    const drawn = drawInSrgb(rgb([128, 128, 128]), { gamma: 0.45455, toXyzD50: SRGB_TO_XYZ_D50 });
    expect([...drawn.data]).toEqual([129, 129, 129]);
  });

  it('draws the blue channel alone, in grey: blue 40 is linear 0.15686, encoded 0.43259, 110', () => {
    const toXyzD50 = primariesToXyzD50(BLUE_ONLY) as number[];
    const drawn = drawInSrgb(rgb([40, 60, 40, 200, 200, 0]), { gamma: 1, toXyzD50 });
    expect([...drawn.data]).toEqual([110, 110, 110, 0, 0, 0]);
  });

  it('draws grey as grey, keeps alpha as stored, and gives RGB or RGBA of the same size', () => {
    const space = { gamma: 1, toXyzD50: SRGB_TO_XYZ_D50 };
    const grey = drawInSrgb(rgb([128, 0], 1), space);
    expect(grey).toMatchObject({ width: 2, height: 1, channels: 3 });
    expect([...grey.data]).toEqual([188, 188, 188, 0, 0, 0]);
    const greyAlpha = drawInSrgb(rgb([128, 7, 255, 255], 2), space);
    expect(greyAlpha.channels).toBe(4);
    expect([...greyAlpha.data]).toEqual([188, 188, 188, 7, 255, 255, 255, 255]);
    const rgba = drawInSrgb(rgb([128, 0, 255, 9], 4), space);
    expect([...rgba.data]).toEqual([188, 0, 255, 9]);
  });
});
