/**
 * The options of `createPdqMatcher`, as one zod schema: parsed once, unknown keys rejected.
 */
import { z } from 'zod';
import { timerMs } from '../timer-ms.js';
import type { Logger } from '../types.js';
import { HashPool } from './hash-pool.js';
import type { PdqListsOption } from './list-source.js';

const listSource = z.union([
  z
    .object({
      name: z.string().min(1),
      path: z.string().min(1),
      format: z.enum(['lines', 'csv']).optional(),
    })
    .strict(),
  z
    .object({
      name: z.string().min(1),
      hashes: z.array(
        z.union([
          z.string(),
          z.object({ hash: z.string(), metadata: z.record(z.string(), z.string()) }),
        ]),
      ),
    })
    .strict(),
]);
const lists = z.union([z.array(listSource), z.record(z.string().min(1), z.string().min(1))]);
const distance = z.number().int().min(0).max(256);

/**
 * Every upload's hash is compared, whatever its quality. A known image with its contrast lowered
 * (a washed-out copy anyone can restore) scores 14–49 and stays 0–4 bits from its listed hash;
 * flat or blurred images of low quality hash far from real images' hashes (112–144 bits from
 * every one of the reference scenes). A quality floor would let the first through and gains
 * nothing against the second: the floor that fights false positives belongs on the list's side,
 * where low-quality hashes should not be listed.
 */
export const DEFAULT_MIN_QUALITY = 0;

export const pdqMatcherSchema = z
  .object({
    /**
     * The hash lists to match against: `{ name: path }`, or an array of `{ name, path, format? }`
     * (files) and `{ name, hashes }` (in code). A list's name becomes the `source` of its matches.
     * Required, no default.
     */
    lists,
    /**
     * Lists of known false positives (same forms): an image within `allowThreshold` of one of their
     * hashes never matches. Defaults to none.
     */
    allowLists: lists.optional(),
    /** Largest Hamming distance (of 256 bits) that counts as a match. Defaults to 31. */
    threshold: distance.default(31),
    /** Largest distance to an allow-list hash that suppresses a match. Defaults to `threshold`. */
    allowThreshold: distance.optional(),
    /** Images whose PDQ quality is below this never match. Defaults to 0 (see `DEFAULT_MIN_QUALITY`). */
    minQuality: z.number().int().min(0).max(100).default(DEFAULT_MIN_QUALITY),
    /** Also match rotated and mirrored copies (the eight dihedral hashes). Defaults to `false`. */
    dihedral: z.boolean().default(false),
    /** Refuse to decode images with more pixels. Defaults to 100,000,000 (the guard's default). */
    maxPixels: z.number().int().positive().default(100_000_000),
    /** Reload a list when its file changes (fs.watch plus a stat poll). Defaults to `true`. */
    watch: z.boolean().default(true),
    /** Interval of the stat poll that backs fs.watch, in ms. Defaults to 5000. */
    pollIntervalMs: timerMs(10).default(5_000),
    /** Quiet time after a file change before reloading, in ms. Defaults to 250. */
    debounceMs: timerMs(0).default(250),
    /** Worker pool for the hash math; `false` hashes on the calling thread. Defaults to a shared pool. */
    pool: z.union([z.instanceof(HashPool), z.literal(false)]).optional(),
    /** Told of reloads (info) and of lists that failed to load (error). Defaults to silent. */
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
    /** Called after a list (re)loads. Defaults to none. */
    onReload: z
      .custom<(info: { list: string; size: number }) => void>((v) => typeof v === 'function')
      .optional(),
    /** Called when a list fails to (re)load; the previous version stays in use. Defaults to none. */
    onError: z.custom<(error: Error) => void>((v) => typeof v === 'function').optional(),
  })
  .strict();

/** Options of `createPdqMatcher`. */
export interface PdqMatcherOptions {
  /**
   * The hash lists to match against: `{ name: path }`, or an array of `{ name, path, format? }`
   * (files) and `{ name, hashes }` (in code). A list's name becomes the `source` of its matches.
   */
  lists: PdqListsOption;
  /**
   * Lists of known false positives (same forms): an image within `allowThreshold` of one of their
   * hashes never matches. Defaults to none.
   */
  allowLists?: PdqListsOption;
  /** Largest Hamming distance (of 256 bits) that counts as a match. Defaults to 31. */
  threshold?: number;
  /** Largest distance to an allow-list hash that suppresses a match. Defaults to `threshold`. */
  allowThreshold?: number;
  /**
   * Images whose PDQ quality is below this never match. Defaults to 0: every hash is compared. Meta
   * recommends 50 against false positives among low-quality hashes, but a listed image with its
   * contrast lowered scores below 50 and is still within a few bits of its listed hash: 50 lets it
   * through.
   */
  minQuality?: number;
  /** Also match rotated and mirrored copies (the eight dihedral hashes). Defaults to `false`. */
  dihedral?: boolean;
  /** Refuse to decode images with more pixels. Defaults to 100,000,000 (the guard's default). */
  maxPixels?: number;
  /** Reload a list when its file changes (fs.watch plus a stat poll). Defaults to `true`. */
  watch?: boolean;
  /** Interval of the stat poll that backs fs.watch, in ms. Defaults to 5000. */
  pollIntervalMs?: number;
  /** Quiet time after a file change before reloading, in ms. Defaults to 250. */
  debounceMs?: number;
  /** Worker pool for the hash math; `false` hashes on the calling thread. Defaults to a shared pool. */
  pool?: HashPool | false;
  /** Told of reloads (info) and of lists that failed to load (error). Defaults to silent. */
  logger?: Logger;
  /** Called after a list (re)loads. Defaults to none. */
  onReload?: (info: { list: string; size: number }) => void;
  /** Called when a list fails to (re)load; the previous version stays in use. Defaults to none. */
  onError?: (error: Error) => void;
}

export type ResolvedPdqMatcherOptions = z.output<typeof pdqMatcherSchema>;
