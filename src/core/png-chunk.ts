/**
 * PNG chunks: written (the emulator's test images, pixels handed to sharp with a profile) and
 * their CRC checked (the structure walk, PDQ's colour chunks).
 */
import { crc32, deflateSync } from 'node:zlib';

/** A PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Where the chunk after a PNG's IHDR (its first) starts: signature (8), IHDR (12 + 13). */
const AFTER_IHDR = 33;

/** `png` with an iCCP chunk holding `profile` (named "icc", deflated) right after its IHDR. */
export function withIccProfile(png: Buffer, profile: Uint8Array): Buffer {
  const data = Buffer.concat([Buffer.from('icc\0\0', 'latin1'), deflateSync(profile)]);
  return Buffer.concat([
    png.subarray(0, AFTER_IHDR),
    pngChunk('iCCP', data),
    png.subarray(AFTER_IHDR),
  ]);
}

/**
 * Whether the PNG chunk whose length field is at `at`, with `length` bytes of data, has the CRC
 * of its type and data. The chunk must lie inside `b` (the structure walk has checked it).
 */
export function chunkCrcHolds(b: Uint8Array, at: number, length: number): boolean {
  const end = at + 8 + length;
  const stored = ((b[end] as number) << 24) | ((b[end + 1] as number) << 16);
  const low = ((b[end + 2] as number) << 8) | (b[end + 3] as number);
  return crc32(b.subarray(at + 4, end)) === (stored | low) >>> 0;
}
