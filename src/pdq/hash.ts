/**
 * `pdqHash(input)`: the PDQ hash and quality of an image file or its bytes. The header is read
 * and the pixel limit checked here; decoding (sharp, or our BMP decoder) and the hash math run in
 * a worker pool, unless the image is small enough that a worker hop costs more than the work.
 */
import { readFile } from 'node:fs/promises';
import { decodingPixels } from '../core/pixel-budget.js';
import type { ImageMimeType } from '../types.js';
import { computePdq, computePdqDihedral, type PdqComputed, type PdqDihedral } from './compute.js';
import { decodePixels, inspectImage } from './decode.js';
import { HashPool } from './hash-pool.js';

/** Below this many pixels the math runs on the calling thread (well under a millisecond). */
const INLINE_MAX_PIXELS = 64 * 1024;

export interface PdqHashOptions {
  /** Refuse images with more pixels, before decoding. Defaults to 100,000,000 (the guard's default). */
  maxPixels?: number;
  /** The sniffed type, when already known. Defaults to sniffing the bytes. */
  type?: ImageMimeType;
  /**
   * The worker pool that decodes and hashes; `false` does both on the calling thread. Defaults to
   * a shared pool started on first use, for images above 65,536 pixels (smaller ones are hashed
   * inline: a worker hop would cost more than the work).
   */
  pool?: HashPool | false;
  /**
   * Aborts before decoding and before hashing: a job waiting for the pool's workers is withdrawn;
   * one a worker has started runs to its end, and its result is dropped (the call rejects).
   */
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

/** Decodes and hashes: inline for small images, else decode and math both in the pool. */
async function hashWith(
  input: Buffer | string,
  options: PdqHashOptions,
  dihedral: boolean,
): Promise<PdqComputed | PdqDihedral> {
  options.signal?.throwIfAborted();
  const bytes = typeof input === 'string' ? await readFile(input) : input;
  const { type, width, height } = await inspectImage(bytes, options);
  options.signal?.throwIfAborted();
  const small = options.pool === undefined && width * height <= INLINE_MAX_PIXELS;
  // Large images wait their turn for the process's decoding budget (not for a caller gone).
  return decodingPixels.run(
    width * height,
    async () => {
      if (options.pool === false || small) {
        const image = await decodePixels(bytes, type, width * height);
        options.signal?.throwIfAborted();
        return dihedral ? computePdqDihedral(image) : computePdq(image);
      }
      const pool = options.pool ?? defaultHashPool();
      // The signal reaches the pool's queue too: no worker decodes for a caller gone.
      return pool.runBytes(bytes, type, width * height, dihedral, options.signal);
    },
    { signal: options.signal },
  );
}

/** The PDQ hash (64 hex digits) and quality (0–100) of an image file path or bytes. */
export async function pdqHash(
  input: Buffer | string,
  options: PdqHashOptions = {},
): Promise<PdqHashResult> {
  return hashWith(input, options, false);
}

/** Like `pdqHash`, plus the hashes of the image's seven rotations and flips. */
export async function pdqHashDihedral(
  input: Buffer | string,
  options: PdqHashOptions = {},
): Promise<PdqDihedralResult> {
  return hashWith(input, options, true) as Promise<PdqDihedral>;
}
