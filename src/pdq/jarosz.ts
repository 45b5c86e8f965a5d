/**
 * The reference's blur-and-decimate (`downscaling.cpp`): two passes of box filters along rows then
 * columns (a Jarosz tent filter) at full resolution, then nearest sampling to 64x64. Float32Array
 * storage plus `Math.fround` on every sum keeps each step in 32-bit float like the C++.
 */
const fround = Math.fround;

/** `computeJaroszFilterWindowSize`: the box width that blurs `oldDimension` down to `newDimension`. */
export function jaroszWindowSize(oldDimension: number, newDimension: number): number {
  return Math.trunc((oldDimension + 2 * newDimension - 1) / (2 * newDimension));
}

/** `box1DFloat`: a running-sum box filter with shrinking windows at both ends. */
function box1D(
  input: Float32Array,
  output: Float32Array,
  start: number,
  length: number,
  stride: number,
  window: number,
): void {
  const half = Math.trunc((window + 2) / 2);
  const phase1 = half - 1;
  const phase2 = window - half + 1;
  const phase3 = length - window;
  const phase4 = half - 1;
  let li = start;
  let ri = start;
  let oi = start;
  let sum = 0;
  let size = 0;
  for (let i = 0; i < phase1; i++) {
    sum = fround(sum + (input[ri] as number));
    size++;
    ri += stride;
  }
  for (let i = 0; i < phase2; i++) {
    sum = fround(sum + (input[ri] as number));
    size++;
    output[oi] = sum / size;
    ri += stride;
    oi += stride;
  }
  for (let i = 0; i < phase3; i++) {
    sum = fround(sum + (input[ri] as number));
    sum = fround(sum - (input[li] as number));
    output[oi] = sum / size;
    li += stride;
    ri += stride;
    oi += stride;
  }
  for (let i = 0; i < phase4; i++) {
    sum = fround(sum - (input[li] as number));
    size--;
    output[oi] = sum / size;
    li += stride;
    oi += stride;
  }
}

/**
 * `boxAlongColsFloat`, run across all columns at once (row by row, so memory is read in order):
 * each column sees the same operations in the same order as `box1D` would give it.
 */
function boxAlongCols(
  input: Float32Array,
  output: Float32Array,
  rows: number,
  cols: number,
  window: number,
): void {
  const half = Math.trunc((window + 2) / 2);
  const phase1 = half - 1;
  const phase2 = window - half + 1;
  const phase3 = rows - window;
  const phase4 = half - 1;
  // A Float32Array rounds every stored sum to float32, as the C++ `float sum` does.
  const sums = new Float32Array(cols);
  let li = 0;
  let ri = 0;
  let oi = 0;
  let size = 0;
  for (let i = 0; i < phase1; i++, ri += cols) {
    for (let j = 0; j < cols; j++) sums[j] = (sums[j] as number) + (input[ri + j] as number);
    size++;
  }
  for (let i = 0; i < phase2; i++, ri += cols, oi += cols) {
    size++;
    for (let j = 0; j < cols; j++) {
      const sum = (sums[j] as number) + (input[ri + j] as number);
      sums[j] = sum;
      output[oi + j] = (sums[j] as number) / size;
    }
  }
  for (let i = 0; i < phase3; i++, li += cols, ri += cols, oi += cols) {
    for (let j = 0; j < cols; j++) {
      sums[j] = (sums[j] as number) + (input[ri + j] as number);
      sums[j] = (sums[j] as number) - (input[li + j] as number);
      output[oi + j] = (sums[j] as number) / size;
    }
  }
  for (let i = 0; i < phase4; i++, li += cols, oi += cols) {
    size--;
    for (let j = 0; j < cols; j++) {
      sums[j] = (sums[j] as number) - (input[li + j] as number);
      output[oi + j] = (sums[j] as number) / size;
    }
  }
}

/**
 * `jaroszFilterFloat`: blurs `buffer1` in place (`buffer2` is scratch of the same size).
 * `windowAlongRows` is the box width within a row, `windowAlongCols` within a column.
 */
export function jaroszFilter(
  buffer1: Float32Array,
  buffer2: Float32Array,
  rows: number,
  cols: number,
  windowAlongRows: number,
  windowAlongCols: number,
  passes: number,
): void {
  for (let pass = 0; pass < passes; pass++) {
    for (let i = 0; i < rows; i++) box1D(buffer1, buffer2, i * cols, cols, 1, windowAlongRows);
    boxAlongCols(buffer2, buffer1, rows, cols, windowAlongCols);
  }
}

/** `decimateFloat`: picks the pixel nearest each output cell's centre. */
export function decimate(
  input: Float32Array,
  rows: number,
  cols: number,
  outRows: number,
  outCols: number,
): Float32Array {
  const out = new Float32Array(outRows * outCols);
  for (let oi = 0; oi < outRows; oi++) {
    const ii = Math.trunc(((oi + 0.5) * rows) / outRows);
    for (let oj = 0; oj < outCols; oj++) {
      const ij = Math.trunc(((oj + 0.5) * cols) / outCols);
      out[oi * outCols + oj] = input[ii * cols + ij] as number;
    }
  }
  return out;
}
