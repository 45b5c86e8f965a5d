/**
 * PDQ hashes as text (64 hex digits, as the reference prints them) and as eight 32-bit words.
 */

const HEX = /^[0-9a-f]{64}$/i;

/** Whether `text` is a 256-bit hash in hex. */
export function isPdqHex(text: string): boolean {
  return HEX.test(text);
}

/** The 8 words of a hex hash (word 0 = the first 8 hex digits); throws on malformed input. */
export function hexToWords(
  hex: string,
  into: Uint32Array = new Uint32Array(8),
  at = 0,
): Uint32Array {
  if (!HEX.test(hex)) throw new TypeError(`not a 64-digit hex PDQ hash: '${hex.slice(0, 80)}'`);
  for (let w = 0; w < 8; w++) into[at + w] = Number.parseInt(hex.slice(w * 8, w * 8 + 8), 16);
  return into;
}

/** Hex of the 8 words at `at`. */
export function wordsToHex(words: Uint32Array, at = 0): string {
  let hex = '';
  for (let w = 0; w < 8; w++) hex += (words[at + w] as number).toString(16).padStart(8, '0');
  return hex;
}
