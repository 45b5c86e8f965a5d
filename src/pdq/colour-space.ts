/**
 * PNG's own colour space (a gamma from `gAMA`, primaries and a white point from `cHRM`) drawn in
 * sRGB, as Chromium draws it (skcms): each channel decoded by its gamma (`linear = v^(1/gamma)`),
 * primaries and white point to XYZ adapted to D50 (Bradford, `skcms_PrimariesToXYZD50`), XYZ to
 * linear sRGB (the inverse of skcms's sRGB matrix), clamped to 0–1 and encoded by sRGB's curve.
 * Pure: numbers in, numbers out.
 */
import type { RawImage } from './luma.js';

/** A 3x3 matrix, row-major: `[m00, m01, m02, m10, ...]`. */
export type Matrix3 = readonly number[];

/** A chromaticity: CIE 1931 x and y. */
export type Chromaticity = readonly [x: number, y: number];

/** A colour space's white point and primaries (PNG's cHRM). */
export interface Chromaticities {
  white: Chromaticity;
  red: Chromaticity;
  green: Chromaticity;
  blue: Chromaticity;
}

/** A colour space to draw in sRGB: a gamma (PNG's gAMA) and its linear RGB to XYZ D50 matrix. */
export interface ColourSpace {
  /** The file's encoding gamma: stored `v` is `linear^gamma` (0.45455 for a 2.2 display). */
  gamma: number;
  toXyzD50: Matrix3;
}

/** skcms's sRGB profile, linear RGB to XYZ D50 (`skcms_sRGB_profile()->toXYZD50`). */
export const SRGB_TO_XYZ_D50: Matrix3 = [
  0.436065674, 0.385147095, 0.143066406, 0.222488403, 0.716873169, 0.06060791, 0.013916016,
  0.097076416, 0.714096069,
];

/** The D50 white skcms adapts to. */
const D50 = [0.96422, 1, 0.82521];
/** Bradford's cone response and its inverse, as skcms writes them. */
const XYZ_TO_LMS: Matrix3 = [
  0.8951, 0.2664, -0.1614, -0.7502, 1.7135, 0.0367, 0.0389, -0.0685, 1.0296,
];
const LMS_TO_XYZ: Matrix3 = [
  0.9869929, -0.1470543, 0.1599627, 0.4323053, 0.5183603, 0.0492912, -0.0085287, 0.0400428,
  0.9684867,
];

const at = (m: Matrix3, i: number) => m[i] ?? 0;

/** `a` times `b`. */
export function multiply(a: Matrix3, b: Matrix3): Matrix3 {
  return Array.from({ length: 9 }, (_, i) => {
    const r = i - (i % 3);
    const c = i % 3;
    return at(a, r) * at(b, c) + at(a, r + 1) * at(b, 3 + c) + at(a, r + 2) * at(b, 6 + c);
  });
}

/** `m` times the column vector `v`. */
function apply(m: Matrix3, v: readonly number[]): number[] {
  const [x = 0, y = 0, z = 0] = v;
  return [0, 3, 6].map((r) => at(m, r) * x + at(m, r + 1) * y + at(m, r + 2) * z);
}

const diagonal = ([x = 0, y = 0, z = 0]: readonly number[]): Matrix3 => [x, 0, 0, 0, y, 0, 0, 0, z];

/** The inverse of `m`, or undefined when it has none (or none in finite numbers). */
export function invert(m: Matrix3): Matrix3 | undefined {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0, i = 0] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (det === 0) return undefined;
  const adjugate = [
    e * i - f * h,
    c * h - b * i,
    b * f - c * e,
    f * g - d * i,
    a * i - c * g,
    c * d - a * f,
    d * h - e * g,
    b * g - a * h,
    a * e - b * d,
  ];
  const inverse = adjugate.map((v) => v / det);
  return inverse.every(Number.isFinite) ? inverse : undefined;
}

/** XYZ D50 to skcms's linear sRGB. */
const XYZ_D50_TO_SRGB = invert(SRGB_TO_XYZ_D50) as Matrix3;

const zeroToOne = (v: number) => v >= 0 && v <= 1;

/**
 * Linear RGB to XYZ adapted to D50 for these primaries and white point, as skcms computes it
 * (`skcms_PrimariesToXYZD50`): undefined where skcms refuses them (a value outside 0–1, primaries
 * that span no space) and where the result is not finite (a white point at y = 0).
 */
export function primariesToXyzD50(c: Chromaticities): Matrix3 | undefined {
  const values = [c.red, c.green, c.blue, c.white].flat();
  if (!values.every(zeroToOne)) return undefined;
  const [rx, ry] = c.red;
  const [gx, gy] = c.green;
  const [bx, by] = c.blue;
  const [wx, wy] = c.white;
  const primaries = [rx, gx, bx, ry, gy, by, 1 - rx - ry, 1 - gx - gy, 1 - bx - by];
  const inverse = invert(primaries);
  if (!inverse) return undefined;
  const white = [wx / wy, 1, (1 - wx - wy) / wy];
  // Each primary scaled so that the three at full make the white point (Y = 1).
  const toXyz = multiply(primaries, diagonal(apply(inverse, white)));
  // Bradford: from the white point to D50, in cone space.
  const source = apply(XYZ_TO_LMS, white);
  const target = apply(XYZ_TO_LMS, D50);
  const cones = diagonal(target.map((t, k) => t / (source[k] as number)));
  const adapt = multiply(LMS_TO_XYZ, multiply(cones, XYZ_TO_LMS));
  const out = multiply(adapt, toXyz);
  return out.every(Number.isFinite) ? out : undefined;
}

/** sRGB's transfer curve, linear (0–1) to encoded (0–1). */
export function srgbEncode(linear: number): number {
  return linear <= 0.0031308 ? 12.92 * linear : 1.055 * linear ** (1 / 2.4) - 0.055;
}

/** Steps of the linear-to-8-bit table: fine enough that no entry is off by more than a level. */
const ENCODE_STEPS = 65_535;
let encodeTable: Uint8Array | undefined;

/** 8-bit sRGB for linear values at `ENCODE_STEPS` steps, built on first use. */
function srgbTable(): Uint8Array {
  encodeTable ??= Uint8Array.from({ length: ENCODE_STEPS + 1 }, (_, i) =>
    Math.round(255 * srgbEncode(i / ENCODE_STEPS)),
  );
  return encodeTable;
}

/**
 * The pixels as drawn in sRGB from `space`: RGB (or RGBA, alpha as stored) of the same size.
 * Grey images are drawn as their grey in each of red, green and blue.
 */
export function drawInSrgb(image: RawImage, space: ColourSpace): RawImage {
  const { data, width, height, channels } = image;
  const [m0 = 0, m1 = 0, m2 = 0, m3 = 0, m4 = 0, m5 = 0, m6 = 0, m7 = 0, m8 = 0] = multiply(
    XYZ_D50_TO_SRGB,
    space.toXyzD50,
  );
  const decode = Float64Array.from({ length: 256 }, (_, v) => (v / 255) ** (1 / space.gamma));
  const encode = srgbTable();
  const toByte = (linear: number) =>
    encode[Math.round(Math.min(1, Math.max(0, linear)) * ENCODE_STEPS)] as number;
  const alpha = channels === 2 || channels === 4;
  const grey = channels <= 2;
  const outChannels = alpha ? 4 : 3;
  const n = width * height;
  const out = new Uint8Array(n * outChannels);
  for (let i = 0, p = 0, o = 0; i < n; i++, p += channels, o += outChannels) {
    const r = decode[data[p] as number] as number;
    const g = grey ? r : (decode[data[p + 1] as number] as number);
    const b = grey ? r : (decode[data[p + 2] as number] as number);
    out[o] = toByte(m0 * r + m1 * g + m2 * b);
    out[o + 1] = toByte(m3 * r + m4 * g + m5 * b);
    out[o + 2] = toByte(m6 * r + m7 * g + m8 * b);
    if (alpha) out[o + 3] = data[p + channels - 1] as number;
  }
  return { data: out, width, height, channels: outChannels };
}
