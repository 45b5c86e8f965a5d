/** Character classes the searches of text for images share (char codes, no allocation). */

/** ASCII whitespace as the fetch standard, CSS and Node's base64 decoding skip it. */
export function isAsciiSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d;
}

/** A digit's value in `radix` (10 or 16), or -1. */
export function digitValue(code: number, radix: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (radix !== 16) return -1;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}
