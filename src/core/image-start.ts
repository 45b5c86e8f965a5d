/**
 * How the first bytes of our five formats (PNG, JPEG, GIF, TIFF, BMP) look: enough to tell text
 * that decodes to an image from text that does not, before any image is validated.
 */

/**
 * Fewer bytes than the smallest GIF, BMP, TIFF, PNG or JPEG: text whose decoding is this short
 * ('/9j/ is a path' as base64, the colour 'FFD8FF' as hex) holds no image, whatever it starts with.
 */
export const MIN_IMAGE_BYTES = 24;

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Signatures of our five formats at `at` (the bytes before `length` only); BMP needs its zero
 * reserved bytes too ('BM' alone is text).
 */
export function startsLikeImage(b: Uint8Array, at = 0, length = b.length): boolean {
  const byte = (i: number) => (at + i < length ? (b[at + i] as number) : -1);
  switch (byte(0)) {
    case 0x89: // PNG
      return PNG.every((value, i) => byte(i) === value);
    case 0xff: // JPEG
      return byte(1) === 0xd8 && byte(2) === 0xff;
    case 0x47: // GIF87a, GIF89a
      return (
        byte(1) === 0x49 &&
        byte(2) === 0x46 &&
        byte(3) === 0x38 &&
        (byte(4) === 0x37 || byte(4) === 0x39) &&
        byte(5) === 0x61
      );
    case 0x49: // TIFF, little-endian: II*\0
      return byte(1) === 0x49 && byte(2) === 0x2a && byte(3) === 0;
    case 0x4d: // TIFF, big-endian: MM\0*
      return byte(1) === 0x4d && byte(2) === 0 && byte(3) === 0x2a;
    case 0x42: // BMP
      return byte(1) === 0x4d && byte(6) === 0 && byte(7) === 0 && byte(8) === 0 && byte(9) === 0;
    default:
      return false;
  }
}

/** The first byte of each signature (PNG, JPEG, GIF, TIFF II and MM, BMP): a cheap first test. */
export const SIGNATURE_FIRST_BYTES: ReadonlySet<number> = new Set([
  0x89, 0xff, 0x47, 0x49, 0x4d, 0x42,
]);

/** Whether an image starts anywhere in `bytes` from `from` on. */
export function imageStartsWithin(bytes: Uint8Array, from = 0): boolean {
  for (const first of SIGNATURE_FIRST_BYTES) {
    for (let i = bytes.indexOf(first, from); i !== -1; i = bytes.indexOf(first, i + 1)) {
      if (startsLikeImage(bytes, i)) return true;
    }
  }
  return false;
}
