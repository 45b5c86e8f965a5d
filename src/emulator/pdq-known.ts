import { PdqDecodeError } from '../pdq/decode.js';
import { pdqHash } from '../pdq/hash.js';
import { loadSharp } from '../pdq/load-sharp.js';
import { pdqDistance } from '../pdq/pdq-index.js';
import type { ImageMimeType } from '../types.js';

/**
 * PDQ on the emulator's own thread (`pool: false`): it checks a few images of at most 4 MiB and
 * has no worker threads to shut down.
 */
function hashOf(bytes: Buffer, type?: ImageMimeType): Promise<{ hash: string; quality: number }> {
  return pdqHash(bytes, type === undefined ? { pool: false } : { type, pool: false });
}

/** How the emulator matches edited copies of its known images. */
export interface PdqSettings {
  /** Largest Hamming distance (of 256 bits) that counts as a match. */
  threshold: number;
  /** Images (known or uploaded) whose PDQ quality is below this are matched by exact bytes only. */
  minQuality: number;
}

export interface PdqNearest {
  matchId: string;
  /** Hamming distance, reported as the flag's `MatchDistance`. */
  distance: number;
}

/**
 * The known images' PDQ hashes, so that a re-encoded, resized or lightly cropped copy of one
 * matches the way it would on the real service (whose PhotoDNA hash is robust to such edits).
 * A stand-in for PhotoDNA's own robust hash: the emulator never computes PhotoDNA.
 */
export class PdqKnown {
  readonly #entries: Array<{ hash: string; matchId: string }> = [];
  readonly #seen = new Set<string>();

  constructor(readonly settings: PdqSettings) {}

  /** Fails when sharp, which decodes for PDQ, is not installed. */
  static async check(): Promise<void> {
    await loadSharp();
  }

  /** Adds a known image; one PDQ cannot hash reliably stays matched by its bytes only. */
  async add(bytes: Uint8Array, matchId: string): Promise<void> {
    let result: { hash: string; quality: number };
    try {
      result = await hashOf(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (error) {
      if (error instanceof PdqDecodeError) return; // not an image PDQ can decode: exact bytes only
      throw error;
    }
    if (result.quality < this.settings.minQuality || this.#seen.has(result.hash)) return;
    this.#seen.add(result.hash);
    this.#entries.push({ hash: result.hash, matchId });
  }

  /** The closest known image within the threshold, if any. */
  async nearest(bytes: Buffer, type: ImageMimeType): Promise<PdqNearest | undefined> {
    if (this.#entries.length === 0) return undefined;
    let result: { hash: string; quality: number };
    try {
      result = await hashOf(bytes, type);
    } catch (error) {
      if (error instanceof PdqDecodeError) return undefined;
      throw error;
    }
    if (result.quality < this.settings.minQuality) return undefined;
    let best: PdqNearest | undefined;
    for (const entry of this.#entries) {
      const distance = pdqDistance(result.hash, entry.hash);
      if (distance <= this.settings.threshold && (!best || distance < best.distance)) {
        best = { matchId: entry.matchId, distance };
      }
    }
    return best;
  }
}
