import { createHash } from 'node:crypto';

/** A PhotoDNA hash is 144 bytes; the service exchanges it as base64. */
export const HASH_LENGTH = 144;

/** Whether a char code is in the standard base64 alphabet (A–Z, a–z, 0–9, +, /). */
function isBase64Char(code: number): boolean {
  return (
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    (code >= 48 && code <= 57) ||
    code === 43 ||
    code === 47
  );
}

/**
 * Strict base64 (standard alphabet, padded) of any length; empty is not base64 here. A loop, not
 * a regular expression: a backtracking regex over the ~5.6 million characters of a 4 MiB image
 * overflowed the stack (issue 11).
 */
export function isBase64(value: string): boolean {
  const length = value.length;
  if (length === 0 || length % 4 !== 0) return false;
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  for (let i = 0; i < length - padding; i++) {
    if (!isBase64Char(value.charCodeAt(i))) return false;
  }
  return true;
}

/** The 144 bytes of a base64 PhotoDNA hash, or `undefined` when it is not one. */
export function decodeHash(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || value.length > 200 || !isBase64(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === HASH_LENGTH ? new Uint8Array(bytes) : undefined;
}

export function isHashValue(value: string): boolean {
  return decodeHash(value) !== undefined;
}

/** Sum of squared byte differences: PhotoDNA's `MatchDistance`. */
export function squaredDistance(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < HASH_LENGTH; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    sum += d * d;
  }
  return sum;
}

/** Hex SHA-256. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A stable six-digit `MatchId` for a known item, derived from its SHA-256 so that it survives
 * restarts (the real service answers numeric ids such as `104149`).
 */
export function matchIdFor(sha256: string): string {
  return String(100_000 + (Number.parseInt(sha256.slice(0, 12), 16) % 900_000));
}
