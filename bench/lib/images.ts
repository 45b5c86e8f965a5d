import { jpg } from './fixtures.js';

/** A real ~50 KB JPEG (480x320, quality 80): the upload of the throughput and cache rows. */
export function jpeg50k(seed = 1): Buffer {
  return jpg(480, 320, seed);
}

/**
 * The same JPEG with a comment segment (COM) holding `text` inserted after SOI: still a valid
 * JPEG with the same pixels, but different bytes, so a different SHA-256 (a cache miss).
 * Far cheaper than encoding a new image per request.
 */
export function jpegVariant(jpeg: Buffer, text: string): Buffer {
  const comment = Buffer.from(text, 'latin1');
  const segment = Buffer.alloc(4 + comment.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(2 + comment.length, 2);
  comment.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

/** A JPEG of `width`x`height` (quality 80): ~50 KiB at 480x320, ~500 KiB at 1420x1065, ~3.5 MiB at 3800x2850. */
export function jpegOfSize(width: number, height: number): Buffer {
  return jpg(width, height, 1);
}
