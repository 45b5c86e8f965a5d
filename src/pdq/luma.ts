/**
 * Pixels to PDQ luma, in 32-bit float as the C++ reference computes it (`fillFloatLumaFromRGB`,
 * `fillFloatLumaFromGrey`): every product and sum rounded to float32.
 */
const fround = Math.fround;
/** `coefficient * v` in float32 for every 8-bit v: three lookups replace three multiplications. */
const table = (coefficient: number) =>
  Float32Array.from({ length: 256 }, (_, v) => fround(coefficient) * v);
const R = table(0.299);
const G = table(0.587);
const B = table(0.114);

/** Decoded pixels, row-major, 8 bits per channel; with 2 or 4 channels the last is alpha (ignored). */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). */
  channels: number;
  /** The EXIF orientation (1–8) viewers show the pixels at, when the file states one. */
  orientation?: number;
  /**
   * The same image as colour-managed viewers draw it, where that differs from `data`: through
   * its embedded ICC profile, through PNG's `gAMA` and `cHRM` (see `colour-managed.ts`). Each
   * 8 bits per channel, RGB or RGBA.
   */
  colourManaged?: DrawnPixels[];
}

/** Pixels drawn otherwise than stored, as wide, high and turned as their `RawImage`. */
export interface DrawnPixels {
  data: Uint8Array;
  channels: number;
}

/** Whether the image has an alpha channel that is not opaque everywhere. */
export function isTranslucent(image: RawImage): boolean {
  const { data, width, height, channels } = image;
  if (channels !== 2 && channels !== 4) return false;
  const end = width * height * channels;
  for (let p = channels - 1; p < end; p += channels) if (data[p] !== 255) return true;
  return false;
}

/**
 * Luma as a `height x width` row-major float32 matrix. The reference ignores alpha; with a
 * `background` (0–255) the image is shown over that grey instead, as a page shows it.
 */
export function lumaFromPixels(image: RawImage, background?: number): Float32Array {
  const { data, width, height, channels } = image;
  const n = width * height;
  if (data.length < n * channels) throw new RangeError('pixel buffer shorter than its dimensions');
  const luma = new Float32Array(n);
  if (channels <= 2) {
    for (let i = 0, p = 0; i < n; i++, p += channels) luma[i] = data[p] as number;
  } else {
    for (let i = 0, p = 0; i < n; i++, p += channels) {
      const r = R[data[p] as number] as number;
      const g = G[data[p + 1] as number] as number;
      const b = B[data[p + 2] as number] as number;
      luma[i] = fround(r + g) + b;
    }
  }
  if (background !== undefined && (channels === 2 || channels === 4)) {
    for (let i = 0, p = channels - 1; i < n; i++, p += channels) {
      const alpha = (data[p] as number) / 255;
      luma[i] = (luma[i] as number) * alpha + background * (1 - alpha);
    }
  }
  return luma;
}
