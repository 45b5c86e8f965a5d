import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageMimeType } from '../types.js';
import { decodeHash, matchIdFor, sha256Hex, squaredDistance } from './hash.js';
import type { PdqKnown, PdqNearest } from './pdq-known.js';
import type { KnownItems } from './types.js';

/** `KnownItems`, taking any `Uint8Array` for image bytes. */
export type KnownInput = Omit<KnownItems, 'images'> & { images?: Array<Uint8Array | string> };

/** Files read from one `--known` directory at most (non-recursive). */
const MAX_FILES_PER_DIRECTORY = 10_000;

export interface KnownImage {
  matchId: string;
}

export interface NearestHash {
  matchId: string;
  distance: number;
}

/**
 * What the emulator reports as a match: image bytes by SHA-256 (distance 0), edited copies of
 * known images by PDQ distance when PDQ matching is on, and PhotoDNA hashes for MatchHash by
 * squared Euclidean distance.
 */
export class KnownList {
  private readonly images = new Map<string, KnownImage>();
  private readonly hashes = new Map<string, { bytes: Uint8Array; matchId: string }>();

  /** With `pdq`, edited copies of known images match too (by PDQ distance). */
  constructor(private readonly pdq?: PdqKnown) {}

  /** Adds images (bytes or paths; a directory adds its files), SHA-256s and hashes. */
  async add(items: KnownInput): Promise<void> {
    for (const image of items.images ?? []) {
      if (typeof image === 'string') await this.addPath(image);
      else await this.addImage(image);
    }
    for (const hex of items.sha256 ?? []) this.addSha256(hex);
    for (const value of items.hashes ?? []) this.addHash(value);
  }

  addSha256(hex: string): void {
    const sha = hex.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new TypeError(`not a hex SHA-256: ${hex}`);
    if (!this.images.has(sha)) this.images.set(sha, { matchId: matchIdFor(sha) });
  }

  addHash(base64: string): void {
    const bytes = decodeHash(base64);
    if (!bytes) throw new TypeError('a known hash must be base64 of 144 bytes');
    const sha = sha256Hex(bytes);
    if (!this.hashes.has(sha)) this.hashes.set(sha, { bytes, matchId: matchIdFor(sha) });
  }

  /** Adds image bytes: by SHA-256, and by PDQ hash when PDQ matching is on. */
  async addImage(bytes: Uint8Array): Promise<void> {
    const sha = sha256Hex(bytes);
    this.addSha256(sha);
    await this.pdq?.add(bytes, matchIdFor(sha));
  }

  /** The known image closest to these bytes by PDQ, when PDQ matching is on. */
  nearestImage(bytes: Buffer, type: ImageMimeType): Promise<PdqNearest | undefined> {
    return this.pdq ? this.pdq.nearest(bytes, type) : Promise.resolve(undefined);
  }

  /** The known image with these bytes' SHA-256, if any. */
  image(sha256: string): KnownImage | undefined {
    return this.images.get(sha256);
  }

  /** The closest known hash within `threshold`, if any. */
  nearestHash(hash: Uint8Array, threshold: number): NearestHash | undefined {
    let best: NearestHash | undefined;
    for (const known of this.hashes.values()) {
      const distance = squaredDistance(hash, known.bytes);
      if (distance <= threshold && (!best || distance < best.distance)) {
        best = { matchId: known.matchId, distance };
      }
    }
    return best;
  }

  private async addPath(path: string): Promise<void> {
    const info = await stat(path);
    if (info.isFile()) {
      await this.addImage(await readFile(path));
      return;
    }
    if (!info.isDirectory()) throw new TypeError(`not a file or directory: ${path}`);
    const entries = await readdir(path, { withFileTypes: true });
    const files = entries.filter((entry) => entry.isFile() && !entry.name.startsWith('.'));
    if (files.length > MAX_FILES_PER_DIRECTORY) {
      throw new RangeError(`${path} holds more than ${MAX_FILES_PER_DIRECTORY} files`);
    }
    for (const file of files) await this.addImage(await readFile(join(path, file.name)));
  }
}
