/**
 * The PDQ pipeline on decoded pixels: luma, Jarosz blur at full resolution, 64x64 decimation,
 * quality, DCT, median threshold. Pure and synchronous: it runs on the main thread or in a worker.
 */
import { bitsToHex, DIHEDRAL_NAMES, type DihedralName, dihedralDct } from './bits.js';
import { dct64To16, qualityMetric } from './dct.js';
import { decimate, jaroszFilter, jaroszWindowSize } from './jarosz.js';
import { isTranslucent, lumaFromPixels, type RawImage } from './luma.js';
import { isTurned, orientMatrix } from './orient.js';

/** Images smaller than this on a side hash to all zeros with quality 0, as in the reference. */
const MIN_HASHABLE_DIM = 5;
const JAROSZ_PASSES = 2;

/**
 * One hash and its quality: of the stored pixels (as the reference computes it), or of one view
 * of the image as viewers show it (`shown`: turned by its EXIF orientation, over a white or a
 * black page, drawn through its ICC profile or a PNG's `gAMA`/`cHRM`).
 */
export interface PdqView {
  /** 64 hex digits, as the reference and python-threatexchange print it. */
  hash: string;
  /** 0–100; below 50 the hash is considered unreliable. */
  quality: number;
}

export interface PdqComputed extends PdqView {
  /**
   * The image as viewers may show it, when that differs from the stored pixels (`hash`, which the
   * reference computes): turned by its EXIF orientation (2–8); where its alpha channel is not
   * opaque, over a white and over a black page; drawn through its embedded ICC profile, and a
   * PNG through its `gAMA`/`cHRM` chunks, where that changes a pixel (each of these turned and
   * over the pages too, as the file says). Each view's hash with its own quality (a view can be
   * sharp where the stored pixels are blank). Absent otherwise.
   */
  shown?: PdqView[];
}

export interface PdqDihedral extends PdqComputed {
  /** The hash of each rotation and flip of the image, `original` included. */
  dihedral: Record<DihedralName, string>;
}

/**
 * How a viewer may show the image: its stored pixels or a colour-managed drawing of them, over a
 * background grey (0–255), turned (EXIF 2–8).
 */
interface View {
  pixels: RawImage;
  background?: number;
  orientation?: number;
}

/**
 * The ways `pixels` show otherwise than as they are. A transparent image shows over its page,
 * never as its colour channels alone (an image drawn by its alpha channel alone has flat colours).
 */
function shownOf(pixels: RawImage): View[] {
  const turn = isTurned(pixels.orientation) ? { orientation: pixels.orientation } : {};
  if (isTranslucent(pixels))
    return [
      { pixels, background: 255, ...turn },
      { pixels, background: 0, ...turn },
    ];
  return isTurned(pixels.orientation) ? [{ pixels, ...turn }] : [];
}

/** The views that differ from the stored pixels: theirs, then each colour-managed drawing's. */
function viewsOf(image: RawImage): View[] {
  const views = shownOf(image);
  for (const { data, channels } of image.colourManaged ?? []) {
    const { width, height, orientation } = image;
    const pixels: RawImage = { data, channels, width, height, orientation };
    const shown = shownOf(pixels);
    views.push(...(shown.length > 0 ? shown : [{ pixels }]));
  }
  return views;
}

/** A view's 16x16 DCT block and its quality. */
interface Block {
  dct: Float32Array;
  quality: number;
}

function dctOf(image: RawImage, skipBlurAt64: boolean): (Block & { shown: Block[] }) | undefined {
  const { width: cols, height: rows } = image;
  if (rows < MIN_HASHABLE_DIM || cols < MIN_HASHABLE_DIM) return undefined;
  const stored = dctOfLuma(lumaFromPixels(image), rows, cols, skipBlurAt64);
  // One view at a time: no more than one luma matrix is held at once.
  const shown = viewsOf(image).map((view) => {
    const luma = lumaFromPixels(view.pixels, view.background);
    if (view.orientation === undefined) return dctOfLuma(luma, rows, cols, skipBlurAt64);
    const turned = orientMatrix(luma, cols, rows, view.orientation);
    return dctOfLuma(turned.matrix, turned.height, turned.width, skipBlurAt64);
  });
  return { ...stored, shown };
}

/** The DCT block and quality of a luma matrix (blurred in place). */
function dctOfLuma(luma: Float32Array, rows: number, cols: number, skipBlurAt64: boolean): Block {
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
  return withShown({ hash: bitsToHex(result.dct), quality: result.quality }, result.shown);
}

/** The hash, quality, and the hashes of the seven other rotations/flips. */
export function computePdqDihedral(image: RawImage): PdqDihedral {
  const result = dctOf(image, false);
  const dihedral = {} as Record<DihedralName, string>;
  for (const name of DIHEDRAL_NAMES) {
    dihedral[name] = result ? bitsToHex(dihedralDct(result.dct, name)) : ZERO_HASH;
  }
  return withShown(
    { hash: dihedral.original, quality: result?.quality ?? 0, dihedral },
    result?.shown ?? [],
  );
}

function withShown<T extends PdqComputed>(computed: T, shown: Block[]): T {
  if (shown.length > 0)
    computed.shown = shown.map(({ dct, quality }) => ({ hash: bitsToHex(dct), quality }));
  return computed;
}
