/**
 * From a 16x16 DCT block to the 256-bit hash (`pdqBuffer16x16ToBits` with Torben's median), and
 * the eight dihedral variants computed from the DCT as the reference does (`dct16OriginalTo*`).
 */
const fround = Math.fround;

/** Torben Mogensen's median (`torben.cpp`), on float32 values, exactly as the reference. */
function torben(m: Float32Array): number {
  const n = m.length;
  let min = m[0] as number;
  let max = min;
  for (let i = 1; i < n; i++) {
    const x = m[i] as number;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const half = Math.trunc((n + 1) / 2);
  let less = 0;
  let greater = 0;
  let equal = 0;
  let guess = 0;
  let maxLtGuess = min;
  let minGtGuess = max;
  for (;;) {
    guess = fround((min + max) / 2);
    less = 0;
    greater = 0;
    equal = 0;
    maxLtGuess = min;
    minGtGuess = max;
    for (let i = 0; i < n; i++) {
      const x = m[i] as number;
      if (x < guess) {
        less++;
        if (x > maxLtGuess) maxLtGuess = x;
      } else if (x > guess) {
        greater++;
        if (x < minGtGuess) minGtGuess = x;
      } else {
        equal++;
      }
    }
    if (less <= half && greater <= half) break;
    if (less > greater) max = maxLtGuess;
    else min = minGtGuess;
  }
  if (less >= half) return maxLtGuess;
  if (less + equal >= half) return guess;
  return minGtGuess;
}

/**
 * The hash as 64 hex digits, as the reference prints it: bit `k` (row-major position `k` of the
 * 16x16 block) is bit `k` of the hex number read big-endian.
 */
export function bitsToHex(dct: Float32Array): string {
  const median = torben(dct);
  const words = new Uint16Array(16);
  for (let k = 0; k < 256; k++) {
    if ((dct[k] as number) > median) words[k >> 4] = (words[k >> 4] as number) | (1 << (k & 15));
  }
  let hex = '';
  for (let w = 15; w >= 0; w--) hex += (words[w] as number).toString(16).padStart(4, '0');
  return hex;
}

/** The eight dihedral transforms, in the reference's output order. */
export const DIHEDRAL_NAMES = [
  'original',
  'rotate90',
  'rotate180',
  'rotate270',
  'flipX',
  'flipY',
  'flipPlus1',
  'flipMinus1',
] as const;
export type DihedralName = (typeof DIHEDRAL_NAMES)[number];

/** For each transform: whether it transposes, and the sign of coefficient (i, j). */
const TRANSFORMS: Record<
  DihedralName,
  { transpose: boolean; negate(i: number, j: number): boolean }
> = {
  original: { transpose: false, negate: () => false },
  rotate90: { transpose: true, negate: (_i, j) => (j & 1) === 0 },
  rotate180: { transpose: false, negate: (i, j) => ((i + j) & 1) === 1 },
  rotate270: { transpose: true, negate: (i) => (i & 1) === 0 },
  flipX: { transpose: false, negate: (i) => (i & 1) === 0 },
  flipY: { transpose: false, negate: (_i, j) => (j & 1) === 0 },
  flipPlus1: { transpose: true, negate: () => false },
  flipMinus1: { transpose: true, negate: (i, j) => ((i + j) & 1) === 1 },
};

/** The DCT block of the transformed image, derived from the original's block. */
export function dihedralDct(dct: Float32Array, name: DihedralName): Float32Array {
  const { transpose, negate } = TRANSFORMS[name];
  const out = new Float32Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      const value = dct[i * 16 + j] as number;
      out[transpose ? j * 16 + i : i * 16 + j] = negate(i, j) ? -value : value;
    }
  }
  return out;
}
