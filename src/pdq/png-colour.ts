/**
 * The colour space Chromium draws a PNG in from its `gAMA` and `cHRM` chunks, which sharp
 * (libvips) ignores. Chromium's rules (Skia's `SkPngRustCodec`, checked against Chromium 156):
 * - only chunks before the first IDAT with a correct CRC count, and of each kind the first that
 *   is valid: `gAMA` of 4 bytes and not 0, `cHRM` of 32 bytes, `sRGB` of 1 byte, 0–3;
 * - an ICC profile Chromium can read (`iCCP`) comes first; one it cannot read does not count, so
 *   these chunks are read whether or not the file has one (the profile has its own view);
 * - an `sRGB` chunk means sRGB: nothing to draw otherwise;
 * - without `gAMA` nothing is drawn otherwise, `cHRM` alone included;
 * - `gAMA` alone draws sRGB's primaries at that gamma, unless the gamma is within 5% of 1/2.2;
 * - `gAMA` and `cHRM` draw those primaries, unless skcms refuses them (then nothing).
 * A valid `cICP` chunk comes before all of these in Chromium: not read here (its named colour
 * spaces cannot draw one channel alone), so such a file may get a view Chromium does not show.
 */
import { chunkCrcHolds } from '../core/png-chunk.js';
import { walkBlocks } from '../core/structure.js';
import {
  type Chromaticity,
  type ColourSpace,
  primariesToXyzD50,
  SRGB_TO_XYZ_D50,
} from './colour-space.js';

const name = (type: string) => Buffer.from(type, 'latin1').readUInt32BE(0);
const GAMA = name('gAMA');
const CHRM = name('cHRM');
const SRGB = name('sRGB');
const IDAT = name('IDAT');

/** PNG stores gamma and chromaticities times 100,000. */
const SCALE = 100_000;
/** gAMA values within this fraction of 1/2.2 leave the image as stored (libpng's threshold). */
const NEUTRAL_GAMMA = 0.05;

/**
 * The colour space Chromium draws this PNG in from `gAMA`/`cHRM` (see the top of this file), or
 * undefined when it draws the stored pixels as sRGB. `bytes` must have passed `readHeader`.
 */
export function pngColourSpace(bytes: Uint8Array): ColourSpace | undefined {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let gamma: number | undefined;
  let chrm: number | undefined; // where the first valid cHRM's data starts
  let srgb = false;
  let idat = false;
  walkBlocks(bytes, 'image/png', (kind, start, end) => {
    if (kind === IDAT) idat = true;
    if (idat || (kind !== GAMA && kind !== CHRM && kind !== SRGB)) return;
    const length = end - start - 12;
    if (!chunkCrcHolds(bytes, start, length)) return;
    const data = start + 8;
    if (kind === GAMA && gamma === undefined && length === 4) {
      const value = view.readUInt32BE(data);
      if (value !== 0) gamma = value / SCALE;
    } else if (kind === CHRM && chrm === undefined && length === 32) {
      chrm = data;
    } else if (kind === SRGB && length === 1 && (view[data] as number) <= 3) {
      srgb = true;
    }
  });
  if (srgb || gamma === undefined) return undefined;
  if (chrm === undefined) {
    if (Math.abs(gamma * 2.2 - 1) < NEUTRAL_GAMMA) return undefined;
    return { gamma, toXyzD50: SRGB_TO_XYZ_D50 };
  }
  const from = chrm;
  // White point, red, green, blue: x then y of each.
  const xy = (i: number): Chromaticity => [
    view.readUInt32BE(from + i * 8) / SCALE,
    view.readUInt32BE(from + i * 8 + 4) / SCALE,
  ];
  const toXyzD50 = primariesToXyzD50({ white: xy(0), red: xy(1), green: xy(2), blue: xy(3) });
  return toXyzD50 ? { gamma, toXyzD50 } : undefined;
}
