/**
 * The image as colour-managed viewers draw it, beside the stored pixels that the reference hashes.
 * Browsers draw an image through its embedded ICC profile (JPEG APP2, PNG iCCP, TIFF tag 34675;
 * Chromium a BMP's V5 header's too), and Chromium draws a PNG through its `gAMA` and `cHRM` chunks
 * (`png-colour.ts`), which sharp ignores: a profile or primaries that draw one colour channel alone
 * show an image hidden in that channel. A file with neither costs nothing; a drawing that is exactly the stored pixels (an
 * sRGB profile) is dropped, so it costs no pass of the hash math.
 */
import type { DrawnPixels, RawImage } from './luma.js';

/** Channel `c` (0–2 colour, 3 alpha) of pixel `i`, grey read as red, green and blue. */
function channelOf(image: DrawnPixels, i: number, c: number): number {
  const { data, channels } = image;
  if (c === 3)
    return channels === 2 || channels === 4 ? (data[i * channels + channels - 1] as number) : 255;
  return data[i * channels + (channels <= 2 ? 0 : c)] as number;
}

/** Whether every pixel of `a` and `b` (as many) has the same colour and alpha. */
function samePixels(a: DrawnPixels, b: DrawnPixels, pixels: number): boolean {
  if (a.channels === b.channels) {
    const length = pixels * a.channels;
    return Buffer.from(a.data.buffer, a.data.byteOffset, length).equals(
      Buffer.from(b.data.buffer, b.data.byteOffset, length),
    );
  }
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < 4; c++) if (channelOf(a, i, c) !== channelOf(b, i, c)) return false;
  }
  return true;
}

/**
 * `stored`, with the drawings of it that differ from it as its `colourManaged` pixels. A drawing
 * of another size than the stored pixels is refused (a decoder that grew the image): hashed, it
 * would escape the pixel limit that the header was checked against.
 */
export function withColourManaged(stored: RawImage, drawings: readonly RawImage[]): RawImage {
  const pixels = stored.width * stored.height;
  const differing: DrawnPixels[] = [];
  for (const drawn of drawings) {
    if (drawn.width !== stored.width || drawn.height !== stored.height) {
      throw new RangeError('the colour-managed image is not the size of the stored one');
    }
    if (!samePixels(stored, drawn, pixels)) {
      differing.push({ data: drawn.data, channels: drawn.channels });
    }
  }
  return differing.length > 0 ? { ...stored, colourManaged: differing } : stored;
}
