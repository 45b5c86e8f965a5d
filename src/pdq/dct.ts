/**
 * The reference's 64x64 -> 16x16 DCT (`dct64To16`) and image-domain quality metric
 * (`pdqImageDomainQualityMetric`), in 32-bit float with the same summation order.
 */
const fround = Math.fround;

/** `dct_matrix_64`: 16 rows x 64 columns, row-major, float32. */
const DCT_MATRIX: Float32Array = (() => {
  const matrix = new Float32Array(16 * 64);
  const scale = fround(Math.sqrt(2 / 64));
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      matrix[i * 64 + j] = scale * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1));
    }
  }
  return matrix;
})();

/** B = D A Dᵀ for a 64x64 row-major `a`: the 16x16 low-frequency block, row-major. */
export function dct64To16(a: Float32Array): Float32Array {
  const d = DCT_MATRIX;
  const t = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    const row = i * 64;
    for (let j = 0; j < 64; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) {
        sum = fround(sum + fround((d[row + k] as number) * (a[k * 64 + j] as number)));
      }
      t[row + j] = sum;
    }
  }
  const b = new Float32Array(16 * 16);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) {
        sum = fround(sum + fround((t[i * 64 + k] as number) * (d[j * 64 + k] as number)));
      }
      b[i * 16 + j] = sum;
    }
  }
  return b;
}

/** 0 (flat) to 100 (detailed): the sum of quantised gradients of the 64x64 image, scaled. */
export function qualityMetric(a: Float32Array): number {
  let gradientSum = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      gradientSum += Math.abs(step(a[i * 64 + j] as number, a[(i + 1) * 64 + j] as number));
    }
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) {
      gradientSum += Math.abs(step(a[i * 64 + j] as number, a[i * 64 + j + 1] as number));
    }
  }
  return Math.min(100, Math.trunc(gradientSum / 90));
}

/** `int d = ((u - v) * 100) / 255;` in float, truncated. */
function step(u: number, v: number): number {
  return Math.trunc(fround(fround(fround(u - v) * 100) / 255));
}
