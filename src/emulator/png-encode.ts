import { deflateSync } from 'node:zlib';
import { pngChunk } from '../core/png-chunk.js';

export { pngChunk };

/**
 * A minimal truecolour PNG encoder, enough for the emulator's synthetic test images and for test
 * fixtures: `pixel(x, y)` returns `[r, g, b]`. `padTo` appends a private ancillary chunk so the
 * file is exactly that many bytes (for size-limit tests).
 */
export function encodePng(
  width: number,
  height: number,
  pixel: (x: number, y: number) => readonly [number, number, number],
  options: { padTo?: number } = {},
): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let at = 0;
  for (let y = 0; y < height; y++) {
    raw[at++] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      raw[at++] = r;
      raw[at++] = g;
      raw[at++] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const head = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const parts = [head, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw))];
  const end = pngChunk('IEND', Buffer.alloc(0));
  const length = parts.reduce((sum, p) => sum + p.length, 0) + end.length;
  if (options.padTo !== undefined) {
    const padding = options.padTo - length - 12;
    if (padding < 0) throw new RangeError(`image is already ${length} bytes`);
    parts.push(pngChunk('pdNa', Buffer.alloc(padding)));
  }
  parts.push(end);
  return Buffer.concat(parts);
}
