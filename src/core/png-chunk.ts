/** Writing PNG chunks: the emulator's test images, and pixels handed to sharp with a profile. */
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
