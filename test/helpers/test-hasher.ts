import { createHash } from 'node:crypto';
import type { PhotoDnaHasher } from '../../src/types.js';

/**
 * A TEST STAND-IN, NOT PhotoDNA: 144 bytes derived from the image bytes by SHA-256, base64
 * encoded, the shape of a PhotoDNA hash. It lets tests and benchmarks drive MatchHash against the
 * emulator (whose known list takes these hashes) without Microsoft's licensed hash function. Two
 * different images never come close; an edited copy does not match either.
 */
export function testHashOf(bytes: Uint8Array): string {
  const hash = Buffer.alloc(144);
  for (let i = 0; i < 144; i += 32) {
    createHash('sha256').update(bytes).update(String(i)).digest().copy(hash, i);
  }
  return hash.toString('base64');
}

/** `testHashOf` as a guard `hasher` (test stand-in; see above). */
export const testHasher: PhotoDnaHasher = async (bytes) => testHashOf(bytes);
