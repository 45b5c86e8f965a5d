/**
 * EXIF orientation: the turn or flip (tag values 2–8) that viewers apply to the stored pixels to
 * show the image. A file stored turned and tagged shows as the upright image in every browser, so
 * PDQ hashes it as shown too, beside the stored pixels that the reference hashes.
 */

/** Whether `orientation` (an EXIF Orientation value) shows the image other than as stored. */
export function isTurned(orientation: number | undefined): orientation is number {
  return orientation !== undefined && orientation in STEPS;
}

/**
 * Where shown pixel (x, y) is stored, for a stored image `w` wide and `h` high: at
 * `base + x * stepX + y * stepY` (row-major).
 */
type Steps = (w: number, h: number) => { base: number; stepX: number; stepY: number };

const STEPS: Record<number, Steps> = {
  2: (w) => ({ base: w - 1, stepX: -1, stepY: w }), // mirrored left to right
  3: (w, h) => ({ base: (h - 1) * w + w - 1, stepX: -1, stepY: -w }), // turned 180°
  4: (w, h) => ({ base: (h - 1) * w, stepX: 1, stepY: -w }), // mirrored top to bottom
  5: (w) => ({ base: 0, stepX: w, stepY: 1 }), // transposed
  6: (w, h) => ({ base: (h - 1) * w, stepX: -w, stepY: 1 }), // shown turned 90° clockwise
  7: (w, h) => ({ base: (h - 1) * w + w - 1, stepX: -w, stepY: -1 }), // transversed
  8: (w) => ({ base: w - 1, stepX: w, stepY: -1 }), // shown turned 90° counter-clockwise
};

/**
 * A `height x width` row-major matrix as a viewer shows it under EXIF `orientation` (2–8): the
 * shown matrix, and its width and height (swapped for 5–8).
 */
export function orientMatrix(
  matrix: Float32Array,
  width: number,
  height: number,
  orientation: number,
): { matrix: Float32Array; width: number; height: number } {
  const steps = STEPS[orientation];
  if (!steps) throw new RangeError(`EXIF orientation ${orientation} is not a turn or flip`);
  const { base, stepX, stepY } = steps(width, height);
  const swap = orientation >= 5;
  const outWidth = swap ? height : width;
  const outHeight = swap ? width : height;
  const out = new Float32Array(matrix.length);
  for (let y = 0, o = 0; y < outHeight; y++) {
    for (let x = 0, s = base + y * stepY; x < outWidth; x++, o++, s += stepX) {
      out[o] = matrix[s] as number;
    }
  }
  return { matrix: out, width: outWidth, height: outHeight };
}
