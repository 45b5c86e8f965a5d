/**
 * BMP to PNG for `sanitize: 'reencode'` (sharp neither reads nor writes BMP). The common layout,
 * 24-bit uncompressed rows, is handed to sharp as raw pixels (row padding cut, rows flipped, BGR
 * turned RGB, all in sharp's thread pool); any other layout is decoded by our own decoder on the
 * main thread, one file per event-loop turn.
 */
import { decodeBmp } from '../pdq/bmp.js';
import type { SharpFactory } from '../pdq/load-sharp.js';
import type { RawImage } from '../pdq/luma.js';

/** Swaps the first and third channel: BMP's BGR as RGB. */
const BGR_TO_RGB: [[number, number, number], [number, number, number], [number, number, number]] = [
  [0, 0, 1],
  [0, 1, 0],
  [1, 0, 0],
];

/** The PNG of a validated BMP's pixels; throws when they cannot be read. */
export async function bmpToPng(
  sharp: SharpFactory,
  bytes: Buffer,
  maxPixels: number,
): Promise<Buffer> {
  const rows = plainRows(bytes, maxPixels);
  if (rows) {
    const { width, height, rowSize, pixels, bottomUp } = rows;
    // Rows padded to 4 bytes: read them as one grey image, cut the padding, read back as RGB.
    const packed =
      rowSize === width * 3
        ? pixels
        : await sharp(pixels, { raw: { width: rowSize, height, channels: 1 } })
            .extract({ left: 0, top: 0, width: width * 3, height })
            .toColourspace('b-w') // one band out, as it came in
            .raw()
            .toBuffer();
    const image = sharp(packed, { raw: { width, height, channels: 3 } }).recomb(BGR_TO_RGB);
    return (bottomUp ? image.flip() : image).png().toBuffer();
  }
  const { data, width, height, channels } = await decodeBmpInTurn(bytes, maxPixels);
  const raw = sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    raw: { width, height, channels: channels as 1 | 2 | 3 | 4 },
  });
  return raw.png().toBuffer();
}

interface PlainRows {
  width: number;
  height: number;
  rowSize: number;
  pixels: Buffer;
  bottomUp: boolean;
}

/** A 24-bit uncompressed BMP's rows, when that is what `bytes` hold (and they are all there). */
function plainRows(bytes: Buffer, maxPixels: number): PlainRows | undefined {
  if (bytes.length < 54 || bytes.readUInt32LE(14) < 40) return undefined;
  if (bytes.readUInt16LE(28) !== 24 || bytes.readUInt32LE(30) !== 0) return undefined;
  const width = bytes.readInt32LE(18);
  const signedHeight = bytes.readInt32LE(22);
  const height = Math.abs(signedHeight);
  if (width <= 0 || height === 0 || width * height > maxPixels) return undefined;
  const rowSize = Math.ceil((width * 3) / 4) * 4;
  const offset = bytes.readUInt32LE(10);
  if (offset + rowSize * height > bytes.length) return undefined; // our decoder says why
  const pixels = bytes.subarray(offset, offset + rowSize * height);
  return { width, height, rowSize, pixels, bottomUp: signedHeight > 0 };
}

let bmpTurn: Promise<unknown> = Promise.resolve();

/** Our decoder runs on the main thread (~5 ms per MiB): one decode per event-loop turn. */
function decodeBmpInTurn(bytes: Buffer, maxPixels: number): Promise<RawImage> {
  const turn = bmpTurn
    .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
    .then(() => decodeBmp(bytes, maxPixels));
  bmpTurn = turn.catch(() => undefined);
  return turn;
}
