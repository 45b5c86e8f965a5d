/**
 * Images that arrive outside file parts (issue 11): a `data:image/...;base64,` URL in a text
 * field (what cropper widgets post), raw image bytes in a text field (a part with a charset, or a
 * file part with an empty filename, which busboy hands over as a field). Each is found here so
 * the core can check it like a file, or refuse it.
 */
import { GuardError } from '../errors.js';

/** One text field whose value carries an image. */
export interface FieldImage {
  /** The field's path in the body, e.g. `avatar` or `crop[0]`. */
  path: string;
  /** Where the value sits, to withhold it from the handler. */
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  /**
   * The image's bytes; undefined when the field's charset mangled them (bytes over 0x7F decoded
   * as UTF-8 become U+FFFD): an image nobody can check, so the request is refused.
   */
  bytes: Buffer | undefined;
}

const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*?);base64,/i;
/**
 * Strings and containers looked through at least. A body from the guard's own parser holds at
 * most `maxFields` strings and `maxFieldDepth` containers for each (see `valueBudget`); a host's
 * parser may allow more (multer's default is no limit): a larger body is refused (413
 * `LIMIT_EXCEEDED`) rather than partly looked through.
 */
const MIN_VALUE_BUDGET = 10_000;

/** The strings and containers `findFieldImages` looks through before it refuses the body. */
export function valueBudget(limits: { maxFields: number; maxFieldDepth: number }): number {
  return Math.max(MIN_VALUE_BUDGET, limits.maxFields * (limits.maxFieldDepth + 2));
}

/**
 * Every text field of a parsed body (nested objects and arrays included) that carries an image.
 * Throws `LIMIT_EXCEEDED` for a body of more than `budget` strings and containers: an image past
 * them would go unchecked. (Numbers, booleans and an array's holes cost nothing.)
 */
export function findFieldImages(body: unknown, budget = MIN_VALUE_BUDGET): FieldImage[] {
  const found: FieldImage[] = [];
  let visited = 0;
  const visit = (
    holder: Record<string, unknown> | unknown[],
    key: string | number,
    path: string,
  ) => {
    const value = (holder as Record<string | number, unknown>)[key];
    if (typeof value !== 'string' && (typeof value !== 'object' || value === null)) return;
    if (++visited > budget) {
      throw new GuardError('LIMIT_EXCEEDED', {
        detail: `more than ${budget} text values to look through for images`,
      });
    }
    if (typeof value === 'string') {
      const bytes = imageBytesOf(value);
      if (bytes) found.push({ path, holder, key, bytes: bytes === MANGLED ? undefined : bytes });
    } else if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
      // Bytes on a body are a parser's files (Fastify's 'keyValues'), checked as files: never
      // walked index by index.
      walk(value as Record<string, unknown> | unknown[], path);
    }
  };
  const walk = (node: Record<string, unknown> | unknown[], prefix: string) => {
    if (Array.isArray(node)) {
      // Only the indexes that hold something: `a[100]` makes an array of 101 with 100 holes.
      for (const index of Object.keys(node)) visit(node, Number(index), `${prefix}[${index}]`);
    } else
      for (const key of Object.keys(node)) visit(node, key, prefix ? `${prefix}[${key}]` : key);
  };
  if (body && typeof body === 'object') walk(body as Record<string, unknown>, '');
  return found;
}

/**
 * Puts the checked bytes back into the fields whose image the `sanitize` step changed, in the
 * value's own form: a `data:` URL (with the checked type) or raw bytes (latin1).
 */
export function handOverFieldImages(
  images: readonly FieldImage[],
  uploads: ReadonlyArray<{ bytes: Buffer; original?: unknown }>,
  facts: ReadonlyArray<{ mimetype: string }>,
): void {
  for (const [i, image] of images.entries()) {
    const upload = uploads[i];
    const mimetype = facts[i]?.mimetype;
    if (!upload?.original || !mimetype) continue;
    const holder = image.holder as Record<string | number, unknown>;
    const value = holder[image.key];
    holder[image.key] =
      typeof value === 'string' && DATA_URL.test(value.slice(0, 512))
        ? `data:${mimetype};base64,${upload.bytes.toString('base64')}`
        : upload.bytes.toString('latin1');
  }
}

/** Removes a field image's value from the body the handler gets. */
export function withholdFieldImage(image: FieldImage): void {
  if (Array.isArray(image.holder)) image.holder[image.key as number] = undefined;
  else delete image.holder[image.key as string];
}

/**
 * The bytes of an image carried by a text value: a base64 `data:` URL whose type is an image or
 * whose bytes start like one, or a value whose characters (as bytes, latin1) start with a GIF,
 * JPEG, PNG, BMP or TIFF signature. Undefined for ordinary text.
 */
export function imageBytesOf(value: string): Buffer | typeof MANGLED | undefined {
  const dataUrl = DATA_URL.exec(value.slice(0, 512));
  if (dataUrl) {
    const bytes = Buffer.from(value.slice(dataUrl[0].length), 'base64');
    const type = (dataUrl[1] ?? '').trim().toLowerCase();
    return type.startsWith('image/') || startsLikeImage(bytes) ? bytes : undefined;
  }
  if (value.length < 8) return undefined;
  if (!isByteString(value)) return looksMangled(value) ? MANGLED : undefined;
  const head = Buffer.from(value.slice(0, 16), 'latin1');
  return startsLikeImage(head) ? Buffer.from(value, 'latin1') : undefined;
}

/** An image whose bytes a UTF-8 decoding destroyed. */
export const MANGLED = Symbol('mangled image');

const REPLACEMENT = 0xfffd;
const MANGLED_SIGNATURES = [
  [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  [0xff, 0xd8, 0xff],
  [0x47, 0x49, 0x46, 0x38],
  [0x49, 0x49, 0x2a, 0x00],
  [0x4d, 0x4d, 0x00, 0x2a],
];

/** An image signature in which each byte over 0x7F may have become U+FFFD. */
function looksMangled(value: string): boolean {
  return MANGLED_SIGNATURES.some((signature) =>
    signature.every((byte, i) => {
      const code = value.charCodeAt(i);
      return code === byte || (byte > 0x7f && code === REPLACEMENT);
    }),
  );
}

function isByteString(value: string, upTo = value.length): boolean {
  const end = Math.min(upTo, value.length);
  for (let i = 0; i < end; i++) if (value.charCodeAt(i) > 0xff) return false;
  return true;
}

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Signatures of our five formats; BMP needs its zero reserved bytes too ('BM' alone is text). */
function startsLikeImage(b: Buffer): boolean {
  const at = (i: number) => b[i] ?? -1;
  if (PNG.every((byte, i) => at(i) === byte)) return true;
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return true;
  const ascii = b.subarray(0, 6).toString('latin1');
  if (ascii === 'GIF87a' || ascii === 'GIF89a') return true;
  if (ascii.startsWith('II*\u0000') || ascii.startsWith('MM\u0000*')) return true;
  return ascii.startsWith('BM') && at(6) === 0 && at(7) === 0 && at(8) === 0 && at(9) === 0;
}
