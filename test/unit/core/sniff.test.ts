import { fileTypeFromBuffer } from 'file-type';
import { describe, expect, it } from 'vitest';
import { readDimensions } from '../../../src/core/dimensions.js';
import { knownImageType, sniffImageType } from '../../../src/core/sniff.js';
import { bmp, gif, jpg, png, tiff } from '../../fixtures/images.js';

/** What file-type itself answers for `bytes`, mapped as the guard maps it (undefined: refused). */
async function fileTypeAnswer(bytes: Uint8Array): Promise<string | undefined> {
  const found = await fileTypeFromBuffer(bytes.subarray(0, 4100));
  const mapped: Record<string, string> = {
    jpg: 'image/jpeg',
    png: 'image/png',
    apng: 'image/png',
    gif: 'image/gif',
    bmp: 'image/bmp',
  };
  return found ? mapped[found.ext] : undefined;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function isPng(bytes: Buffer): boolean {
  return PNG_SIGNATURE.equals(bytes.subarray(0, 8));
}

/** A deterministic byte source (xorshift), so a failure names its case. */
function noise(seed: number, length: number): Buffer {
  let x = seed * 2654435761 || 1;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Byte strings that start like one of the four types, or almost. */
function lookalikes(): Array<[string, Buffer]> {
  const heads = [
    [0x42, 0x4d],
    [0x42, 0x4e],
    [0x42],
    [0x47, 0x49, 0x46],
    [0x47, 0x49, 0x46, 0x38, 0x39, 0x61],
    [0x47, 0x49, 0x47],
    [0x47, 0x49],
    [0xff, 0xd8, 0xff],
    [0xff, 0xd8, 0xff, 0xf7],
    [0xff, 0xd8, 0xff, 0xe0],
    [0xff, 0xd8, 0xfe],
    [0xff, 0xd8],
    [0xff, 0xfb],
    [0xff],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0b],
    [0x49, 0x49, 0x2a, 0x00],
    [0x4d, 0x4d, 0x00, 0x2a],
  ];
  const cases: Array<[string, Buffer]> = [];
  for (const [i, head] of heads.entries()) {
    for (const tail of [0, 1, 30, 600]) {
      const bytes = Buffer.concat([Buffer.from(head), noise(i * 31 + tail + 1, tail)]);
      cases.push([`${Buffer.from(head).toString('hex')} + ${tail} bytes`, bytes]);
    }
  }
  return cases;
}

describe('knownImageType: the four common types without file-type (issue 16)', () => {
  it.each([
    ['image/jpeg', jpg()],
    ['image/png', png()],
    ['image/gif', gif()],
    ['image/bmp', bmp()],
  ])('%s is known from its first bytes', (type, bytes) => {
    expect(knownImageType(bytes)).toBe(type);
  });

  it('TIFF is left to file-type (camera RAW shares its signature)', async () => {
    expect(knownImageType(tiff())).toBeUndefined();
    expect(await sniffImageType(tiff())).toBe('image/tiff');
  });

  it.each(lookalikes().filter(([, bytes]) => !isPng(bytes)))(
    'agrees with file-type wherever it answers: %s',
    async (_name, bytes) => {
      const known = knownImageType(bytes);
      const expected = await fileTypeAnswer(bytes);
      if (known !== undefined) expect(known).toBe(expected);
      // And the whole sniff, with file-type behind it, answers as file-type alone would.
      const sniffed = await sniffImageType(bytes).catch((error: { code: string }) => error.code);
      const isTiff = bytes[0] === 0x49 || bytes[0] === 0x4d;
      if (!isTiff) expect(sniffed).toBe(expected ?? 'UNSUPPORTED_MEDIA_TYPE');
    },
  );

  it('a PNG signature is a PNG whatever follows (file-type would walk its chunks); the structure walk judges the rest', async () => {
    for (const [name, bytes] of lookalikes().filter(([, b]) => isPng(b))) {
      expect(knownImageType(bytes), name).toBe('image/png');
      expect(() => readDimensions(bytes, 'image/png'), name).toThrow(
        expect.objectContaining({ code: 'INVALID_IMAGE' }),
      );
    }
  });

  it('JPEG-LS (FF D8 FF F7) is not a JPEG to PhotoDNA: refused as file-type names it', async () => {
    const jls = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xf7]), noise(7, 100)]);
    expect(knownImageType(jls)).toBeUndefined();
    await expect(sniffImageType(jls)).rejects.toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      detail: 'sniffed as jls',
    });
  });
});
