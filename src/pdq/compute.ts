/**
 * The PDQ pipeline on decoded pixels: luma, Jarosz blur at full resolution, 64x64 decimation,
 * quality, DCT, median threshold. Pure and synchronous: it runs on the main thread or in a worker.
 */
import { bitsToHex, DIHEDRAL_NAMES, type DihedralName, dihedralDct } from './bits.js';
import { dct64To16, qualityMetric } from './dct.js';
import { decimate, jaroszFilter, jaroszWindowSize } from './jarosz.js';
import { lumaFromPixels, type RawImage } from './luma.js';
import { isTurned, orientMatrix } from './orient.js';

/** Images smaller than this on a side hash to all zeros with quality 0, as in the reference. */
const MIN_HASHABLE_DIM = 5;
const JAROSZ_PASSES = 2;

export interface PdqComputed {
  /** 64 hex digits, as the reference and python-threatexchange print it. */
  hash: string;
  /** 0–100; below 50 the hash is considered unreliable. */
  quality: number;
  /**
   * The hash of the image as viewers show it, when its EXIF orientation turns or flips the stored
   * pixels (`hash` is the stored pixels', as the reference computes it); absent otherwise.
   */
  oriented?: string;
}

export interface PdqDihedral extends PdqComputed {
  /** The hash of each rotation and flip of the image, `original` included. */
  dihedral: Record<DihedralName, string>;
}

function dctOf(
  image: RawImage,
  skipBlurAt64: boolean,
): { dct: Float32Array; quality: number; oriented?: Float32Array } | undefined {
  const { width: cols, height: rows, orientation } = image;
  if (rows < MIN_HASHABLE_DIM || cols < MIN_HASHABLE_DIM) return undefined;
  const luma = lumaFromPixels(image);
  // Turned first: the blur below works in place.
  const shown = isTurned(orientation) ? orientMatrix(luma, cols, rows, orientation) : undefined;
  const stored = dctOfLuma(luma, rows, cols, skipBlurAt64);
  if (!shown) return stored;
  return {
    ...stored,
    oriented: dctOfLuma(shown.matrix, shown.height, shown.width, skipBlurAt64).dct,
  };
}

/** The DCT block and quality of a luma matrix (blurred in place). */
function dctOfLuma(
  luma: Float32Array,
  rows: number,
  cols: number,
  skipBlurAt64: boolean,
): { dct: Float32Array; quality: number } {
  let block: Float32Array;
  if (skipBlurAt64 && rows === 64 && cols === 64) {
    // The reference's single-hash path takes a 64x64 image as is; its dihedral path blurs it.
    block = luma;
  } else {
    const scratch = new Float32Array(luma.length);
    jaroszFilter(
      luma,
      scratch,
      rows,
      cols,
      jaroszWindowSize(cols, 64),
      jaroszWindowSize(rows, 64),
      JAROSZ_PASSES,
    );
    block = decimate(luma, rows, cols, 64, 64);
  }
  return { dct: dct64To16(block), quality: qualityMetric(block) };
}

const ZERO_HASH = '0'.repeat(64);

/** The PDQ hash and quality of decoded pixels. */
export function computePdq(image: RawImage): PdqComputed {
  const result = dctOf(image, true);
  if (!result) return { hash: ZERO_HASH, quality: 0 };
  return withOriented({ hash: bitsToHex(result.dct), quality: result.quality }, result.oriented);
}

/** The hash, quality, and the hashes of the seven other rotations/flips. */
export function computePdqDihedral(image: RawImage): PdqDihedral {
  const result = dctOf(image, false);
  const dihedral = {} as Record<DihedralName, string>;
  for (const name of DIHEDRAL_NAMES) {
    dihedral[name] = result ? bitsToHex(dihedralDct(result.dct, name)) : ZERO_HASH;
  }
  return withOriented(
    { hash: dihedral.original, quality: result?.quality ?? 0, dihedral },
    result?.oriented,
  );
}

function withOriented<T extends PdqComputed>(computed: T, oriented: Float32Array | undefined): T {
  if (oriented) computed.oriented = bitsToHex(oriented);
  return computed;
}
