/**
 * `pdqHash(input)`: the PDQ hash and quality of an image file or its bytes. Decoding runs in
 * sharp's thread pool (BMP in our own decoder); the hash math runs in a worker pool unless the
 * image is small enough that a worker hop costs more than the work.
 */
import { readFile } from 'node:fs/promises';
import type { ImageMimeType } from '../types.js';
import { computePdq, computePdqDihedral, type PdqComputed, type PdqDihedral } from './compute.js';
import { decodeImage } from './decode.js';
import { HashPool } from './hash-pool.js';
import type { RawImage } from './luma.js';

/** Below this many pixels the math runs on the calling thread (well under a millisecond). */
const INLINE_MAX_PIXELS = 64 * 1024;

export interface PdqHashOptions {
  /** Refuse images with more pixels, before decoding. Defaults to 100,000,000 (the guard's default). */
  maxPixels?: number;
  /** The sniffed type, when already known. Defaults to sniffing the bytes. */
  type?: ImageMimeType;
  /**
   * The worker pool for the hash math; `false` runs it on the calling thread. Defaults to a
   * shared pool started on first use.
   */
  pool?: HashPool | false;
  /** Aborts before decoding and before hashing. */
  signal?: AbortSignal;
}

export type PdqHashResult = PdqComputed;
export type PdqDihedralResult = PdqDihedral;

let sharedPool: HashPool | undefined;

/** The pool `pdqHash` uses by default. */
export function defaultHashPool(): HashPool {
  sharedPool ??= new HashPool();
  return sharedPool;
}

async function pixelsOf(input: Buffer | string, options: PdqHashOptions): Promise<RawImage> {
  options.signal?.throwIfAborted();
  const bytes = typeof input === 'string' ? await readFile(input) : input;
  const image = await decodeImage(bytes, options);
  options.signal?.throwIfAborted();
  return image;
}

function poolFor(image: RawImage, options: PdqHashOptions): HashPool | undefined {
  if (options.pool === false || image.width * image.height <= INLINE_MAX_PIXELS) return undefined;
  return options.pool ?? defaultHashPool();
}

/** The PDQ hash (64 hex digits) and quality (0–100) of an image file path or bytes. */
export async function pdqHash(
  input: Buffer | string,
  options: PdqHashOptions = {},
): Promise<PdqHashResult> {
  const image = await pixelsOf(input, options);
  const pool = poolFor(image, options);
  return pool ? pool.run(image, false) : computePdq(image);
}

/** Like `pdqHash`, plus the hashes of the image's seven rotations and flips. */
export async function pdqHashDihedral(
  input: Buffer | string,
  options: PdqHashOptions = {},
): Promise<PdqDihedralResult> {
  const image = await pixelsOf(input, options);
  const pool = poolFor(image, options);
  return pool ? pool.run(image, true) : computePdqDihedral(image);
}
