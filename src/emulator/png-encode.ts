import { crc32, deflateSync } from 'node:zlib';

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

/** A PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
