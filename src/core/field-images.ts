/**
 * Images that arrive outside file parts (issue 11): a `data:` URL in a text field (what cropper
 * widgets post), raw image bytes in a text field (a part with a charset, or a file part with an
 * empty filename, which busboy hands over as a field), an image as base64 or hex text. Each is
 * found here so the core can check it like a file, or refuse it.
 */
import { GuardError } from '../errors.js';
import { decodeDataUrl, startsLikeDataUrl } from './data-url.js';
import {
  base64At,
  type EmbeddedImage,
  embeddedImages,
  readOnImageStarts,
} from './embedded-images.js';
import {
  imageStartsWithin,
  MIN_IMAGE_BYTES,
  SIGNATURE_FIRST_BYTES,
  startsLikeImage,
} from './image-start.js';
import { knownImageType } from './sniff.js';
import { readHeader } from './structure.js';
import { unescapedViews } from './text-escapes.js';
import type { BufferedBytes } from './upload-budget.js';

/** One text field whose value carries an image. */
export interface FieldImage {
  /** The field's path in the body, e.g. `avatar` or `crop[0]`. */
  path: string;
  /** Where the value sits, to withhold it from the handler. */
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  /** How the value holds the image: a `data:` URL, or one of `DECODINGS` of the text. */
  encoding: FieldEncoding;
  /** The text before the encoded image (through the first comma, for `value.split(',')[1]`). */
  prefix: string;
  /** Where an image written among other text (`embedded`) sits in the value: each copy of it. */
  spans?: Span[] | undefined;
  /**
   * A copy of it is written through escapes (`text-escapes.ts`): its span is in the unescaped
   * text only, so a sanitized image cannot replace it.
   */
  escaped?: boolean | undefined;
  /**
   * The image's bytes; undefined when the field's charset mangled them (bytes over 0x7F decoded
   * as UTF-8 become U+FFFD): an image nobody can check, so the request is refused.
   */
  bytes: Buffer | undefined;
}

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
  const walk = new FieldWalk(body, budget);
  walk.run(Number.POSITIVE_INFINITY);
  return walk.found;
}

/**
 * `findFieldImages` giving the event loop back every `YIELD_AFTER_MS` of searching: a body of a
 * hundred 64 KiB fields written to cost the search the most takes tens of milliseconds, which
 * other requests should not wait out in one block. At once (no promise) when it is done sooner,
 * as for every body without long text. The bytes of each image found are held until the
 * request's decision: with `counted` (the request's bytes in the memory budget), each counts
 * from when it is decoded, and the one that takes the process past `maxBufferedBytes` stops the
 * search with its `SCAN_BUSY`.
 */
export function findFieldImagesYielding(
  body: unknown,
  budget = MIN_VALUE_BUDGET,
  counted?: Pick<BufferedBytes, 'addCopy'>,
  yieldAfterMs = YIELD_AFTER_MS,
): FieldImage[] | Promise<FieldImage[]> {
  const walk = new FieldWalk(body, budget, counted);
  if (walk.run(performance.now() + yieldAfterMs)) return walk.found;
  const resume = async (): Promise<FieldImage[]> => {
    do await new Promise((resolve) => setImmediate(resolve));
    while (!walk.run(performance.now() + yieldAfterMs));
    return walk.found;
  };
  return resume();
}

/** Longest stretch of searching text fields before the event loop is given back. */
const YIELD_AFTER_MS = 2;

/**
 * The walk over a body's values: depth first, in the body's order, on a stack of its own (a
 * parser that reads JSON fields, Fastify's for a part sent as application/json, can nest values
 * deeper than the call stack), so that it can stop between values and go on later.
 */
class FieldWalk {
  readonly found: FieldImage[] = [];
  readonly #budget: number;
  readonly #counted: Pick<BufferedBytes, 'addCopy'> | undefined;
  readonly #pending: Array<{ holder: Holder; key: string | number; path: string }> = [];
  #visited = 0;

  constructor(body: unknown, budget: number, counted?: Pick<BufferedBytes, 'addCopy'>) {
    this.#budget = budget;
    this.#counted = counted;
    if (body && typeof body === 'object') this.#push(body as Holder, '');
  }

  /** Looks through values until none is left (true) or `deadline` passed (false). */
  run(deadline: number): boolean {
    const pending = this.#pending;
    for (let next = pending.pop(); next; next = pending.pop()) {
      const { holder, key, path } = next;
      const value = (holder as Record<string | number, unknown>)[key];
      if (typeof value !== 'string' && (typeof value !== 'object' || value === null)) continue;
      if (++this.#visited > this.#budget) {
        throw new GuardError('LIMIT_EXCEEDED', {
          detail: `more than ${this.#budget} text values to look through for images`,
        });
      }
      if (typeof value === 'string') {
        // Each decoding that yields an image is checked: the handler may reverse any of them.
        for (const { bytes, encoding, prefix, spans, escaped } of encodedImagesIn(value)) {
          const image = bytes === MANGLED ? undefined : bytes;
          if (image) this.#counted?.addCopy(image.length, 'an image decoded from a text field');
          this.found.push({ path, holder, key, encoding, prefix, spans, escaped, bytes: image });
        }
        // Long text only: the clock is read where the search can have taken a while.
        if (value.length > 4096 && pending.length > 0 && performance.now() > deadline) return false;
      } else if (!ArrayBuffer.isView(value)) {
        // Bytes on a body are a parser's files (Fastify's 'keyValues'), checked as files: never
        // walked index by index.
        this.#push(value as Holder, path);
      }
    }
    return true;
  }

  #push(node: Holder, prefix: string): void {
    // Only the indexes that hold something: `a[100]` makes an array of 101 with 100 holes.
    const keys = Object.keys(node);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      if (Array.isArray(node))
        this.#pending.push({ holder: node, key: Number(key), path: `${prefix}[${key}]` });
      else this.#pending.push({ holder: node, key, path: prefix ? `${prefix}[${key}]` : key });
    }
  }
}

type Holder = Record<string, unknown> | unknown[];

/**
 * Puts the checked bytes back into the fields whose image the `sanitize` step changed, in the
 * value's own form: a `data:` URL (with the checked type), or the text encoding the image was
 * found in (raw bytes as latin1, base64, hex, UTF-16, UTF-8), so the handler decodes it as
 * before. Throws `INVALID_IMAGE` for bytes that UTF-8 text cannot hold, and for a value that
 * still holds an image other than the checked ones once rewritten (see `leftUnchecked`).
 */
export function handOverFieldImages(
  images: readonly FieldImage[],
  uploads: ReadonlyArray<{ bytes: Buffer; original?: unknown }>,
  facts: ReadonlyArray<{ mimetype: string }>,
): void {
  const embedded: Array<{ image: FieldImage; span: Span; bytes: Buffer }> = [];
  const rewritten: FieldImage[] = [];
  for (const [i, image] of images.entries()) {
    const upload = uploads[i];
    const mimetype = facts[i]?.mimetype;
    if (!upload?.original || !mimetype) continue;
    rewritten.push(image);
    if (image.encoding === 'embedded') {
      if (image.escaped) {
        throw new GuardError('INVALID_IMAGE', {
          detail: `the sanitized image in the text field '${image.path}' is written through escapes: it cannot be handed on`,
        });
      }
      for (const span of image.spans ?? []) embedded.push({ image, span, bytes: upload.bytes });
      continue;
    }
    const holder = image.holder as Record<string | number, unknown>;
    const value = holder[image.key];
    const text = typeof value === 'string' ? value : '';
    holder[image.key] =
      image.encoding === 'data-url' || startsLikeDataUrl(text)
        ? `data:${mimetype};base64,${upload.bytes.toString('base64')}`
        : image.prefix + asText(upload.bytes, image.encoding, text.slice(image.prefix.length));
  }
  // Each copy in its own span, the last of a value first: the spans before it stay where they were.
  embedded.sort((a, b) => b.span.start - a.span.start);
  for (const { image, span, bytes } of embedded) {
    const holder = image.holder as Record<string | number, unknown>;
    const text = String(holder[image.key] ?? '');
    const { start, end, form } = span;
    holder[image.key] = text.slice(0, start) + spanText(bytes, form) + text.slice(end);
  }
  const left = leftUnchecked(rewritten, uploads);
  if (left) {
    throw new GuardError('INVALID_IMAGE', {
      detail: `the sanitized image in the text field '${left.path}' is also written where it cannot be replaced: it cannot be handed on`,
    });
  }
}

/**
 * The first rewritten field whose value, searched again as the handler's decodings read it,
 * holds an image that is not one of the checked `uploads`. An image is found once by its bytes
 * however many ways the value holds it, and only the way it was first found is rewritten: a copy
 * found otherwise (as hex before a comma and as base64 after it, or base64 split where no span
 * was read) kept the bytes as uploaded, and a replacement after a cut wrote its original prefix
 * back over an image replaced before it. Refused rather than handed on unchecked.
 */
function leftUnchecked(
  rewritten: readonly FieldImage[],
  uploads: ReadonlyArray<{ bytes: Buffer }>,
): FieldImage | undefined {
  if (rewritten.length === 0) return undefined;
  // UTF-16 holds whole pairs: an odd-length image goes back with a zero byte after its end.
  const checked = new Set(
    uploads.flatMap(({ bytes }) => {
      const key = bytes.toString('latin1');
      return bytes.length % 2 === 1 ? [key, `${key}\u0000`] : [key];
    }),
  );
  const searched = new Map<FieldImage['holder'], Set<string | number>>();
  for (const image of rewritten) {
    const keys = searched.get(image.holder) ?? new Set();
    if (keys.has(image.key)) continue;
    keys.add(image.key);
    searched.set(image.holder, keys);
    const value = (image.holder as Record<string | number, unknown>)[image.key];
    if (typeof value !== 'string') continue;
    const unchecked = (bytes: Buffer | typeof MANGLED) =>
      bytes === MANGLED || !checked.has(bytes.toString('latin1'));
    if (imagesIn(value).some(unchecked)) return image;
  }
  return undefined;
}

/** Bytes written as an embedded image's span was: base64 in its alphabet, or percent-encoded. */
function spanText(bytes: Buffer, form: Span['form']): string {
  if (form !== 'percent') return bytes.toString(form);
  let text = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    text += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}

/** Removes a field image's value from the body the handler gets. */
export function withholdFieldImage(image: FieldImage): void {
  if (Array.isArray(image.holder)) image.holder[image.key as number] = undefined;
  else delete image.holder[image.key as string];
}

/**
 * How a handler may turn a text value back into bytes: as binary (latin1, what a part read as
 * bytes is), in the charset a part declared (busboy decodes UTF-8 and UTF-16LE; UTF-16BE is
 * UTF-16LE with each pair swapped), or from base64 or hex text (busboy hands a part with
 * `charset=base64` over as base64, and APIs post images so). Other wrappings (JSON in a field,
 * compressed, encrypted) are the handler's own to decode and are not looked at.
 */
const DECODINGS = ['latin1', 'utf8', 'utf16le', 'utf16be', 'base64', 'hex'] as const;
type Decoding = (typeof DECODINGS)[number];
/** How a text field holds an image: a whole `data:` URL, a decoding, or among other text. */
export type FieldEncoding = 'data-url' | Decoding | 'embedded';
/** Where an embedded image sits in its value, and how it is written there. */
export type Span = Pick<EmbeddedImage, 'start' | 'end' | 'form'>;
/** The decodings whose first bytes come from the text's first characters, one for one. */
const PREFIX_DECODINGS = ['latin1', 'utf8', 'utf16le', 'utf16be', 'hex'] as const;

/**
 * The images a text value carries, as bytes: a `data:` URL, decoded as browsers and `fetch()`
 * decode it (`data-url.ts`), whose type is an image or whose bytes start like one; then every
 * decoding of the value that starts with a GIF, JPEG, PNG, BMP or TIFF signature (see
 * `DECODINGS`), each of them checked. `MANGLED` for a signature a UTF-8 decoding destroyed.
 * Empty for ordinary text.
 */
export function imagesIn(value: string): Array<Buffer | typeof MANGLED> {
  return encodedImagesIn(value).map((image) => image.bytes);
}

/** An image a text value carries, and how. */
interface EncodedImage {
  bytes: Buffer | typeof MANGLED;
  encoding: FieldEncoding;
  /** The text before the encoded image. */
  prefix: string;
  spans?: Span[] | undefined;
  escaped?: boolean | undefined;
}

/** `imagesIn`, each image with the encoding it was found in (`MANGLED` as UTF-8). */
function encodedImagesIn(value: string): EncodedImage[] {
  const found: EncodedImage[] = [];
  // Each image once, by its bytes (a value may hold thousands of small ones: no pairwise test);
  // an embedded one with every copy, each of which a sanitized image replaces.
  const seen = new Map<string, EncodedImage>();
  const add = (bytes: Buffer, encoding: FieldEncoding, prefix = '', span?: Span) => {
    const key = bytes.toString('latin1');
    const image = seen.get(key) ?? { bytes, encoding, prefix };
    if (!seen.has(key)) {
      seen.set(key, image);
      found.push(image);
    }
    if (encoding !== 'embedded' || image.encoding !== 'embedded') return;
    if (!span) image.escaped = true;
    else if (image.spans) image.spans.push(span);
    else image.spans = [span];
  };
  const dataUrl = decodeDataUrl(value);
  if (dataUrl && (dataUrl.type.startsWith('image/') || startsLikeImage(dataUrl.bytes))) {
    add(dataUrl.bytes, 'data-url');
  }
  // Images among other text (Markdown, HTML, CSS, JSON), as many as there are, each in its span.
  const embedded = embeddedImages(value, PLACEHOLDER_BYTES);
  // Written through HTML character references or JSON escapes: in no span of the value itself.
  const views = unescapedViews(value).map((view) => embeddedImages(view, PLACEHOLDER_BYTES));
  const unescaped = views.flat();
  const whole = unescaped.map((image) => image.bytes).sort(Buffer.compare);
  for (const image of embedded) {
    const { bytes, start, end, form } = image;
    if (isPlaceholder(image)) continue;
    // Cut by an escape its reader reads on through (`\/`): only the whole image is.
    if (ESCAPE_STARTS.has(value.charCodeAt(end)) && continuedIn(whole, bytes)) continue;
    add(bytes, 'embedded', value.slice(0, start), { start, end, form });
  }
  // A view also holds the copies written plainly (an escape elsewhere in the text, `Tom &amp;
  // Jerry`): a copy is written through escapes only where a view holds more than the value's spans.
  for (const images of views) {
    const copies = new Map<string, number>();
    for (const image of images) {
      if (isPlaceholder(image)) continue;
      const key = image.bytes.toString('latin1');
      const count = (copies.get(key) ?? 0) + 1;
      copies.set(key, count);
      if (count > (seen.get(key)?.spans?.length ?? 0)) add(image.bytes, 'embedded');
    }
  }
  // Node's base64 (`Buffer.from(text, 'base64')`, what handlers call) skips every character
  // outside both alphabets and reads a character above U+00FF by its low byte: no test of the
  // text's first characters tells what it decodes to, so the decoding itself is looked at, of the
  // whole value, of each place a handler commonly cuts it (see `cutsOf`), including the payload
  // of a `data:` URL a browser would refuse, and from each run of base64 where that decoding
  // reads an image start on past other characters (a JSON string `JSON.parse` hands over).
  // A cut that decodes to a whole image followed by the rest of the text read as base64 is that
  // image (the rest holds no other image start; an image in the rest's own base64 is found
  // above), checked itself where no search above found it (its lines split by spaces).
  for (const [cut, fewest] of cutPositions(value)) {
    const bytes = nodeBase64Image(cut === 0 ? value : value.slice(cut));
    if (!bytes || bytes.length < fewest) continue;
    const { bytes: image, end } = base64At(value, base64Start(value, cut));
    if (isFollowedByText(bytes, image)) {
      if (image.length >= PLACEHOLDER_BYTES && !seen.has(image.toString('latin1'))) {
        add(image, 'embedded');
      }
    } else if (!(ESCAPE_STARTS.has(value.charCodeAt(end)) && continuedIn(whole, image))) {
      // (Not where an escape cuts it that its reader reads on through, as above: the image the
      // escapes read into is checked, and Node's reading of the escape's letters is none.)
      add(bytes, 'base64', value.slice(0, cut));
    }
  }
  // The other decodings at the same cuts as base64: `value.split(',')[1]` read as raw bytes or
  // hex is the image whatever comes before it (a `data:` URL of another type included).
  for (const cut of separatorCuts(value)) {
    const text = cut === 0 ? value : value.slice(cut);
    if (text.length < 2) continue;
    const first = text.charCodeAt(0);
    // Hex stops at its first character that is not a digit: its first bytes are its first pairs.
    const hex = startsLikeImage(Buffer.from(text.slice(0, 20), 'hex'));
    if (!hex && !SIGNATURE_FIRST_BYTES.has(first & 0xff) && !SIGNATURE_FIRST_BYTES.has(first >> 8))
      continue;
    for (const encoding of PREFIX_DECODINGS) {
      if (!startsLikeImage(encode(text.slice(0, 20), encoding))) continue;
      const bytes = encode(text, encoding);
      if (bytes.length >= MIN_IMAGE_BYTES) add(bytes, encoding, value.slice(0, cut));
    }
  }
  if (dataUrl || value.length < 2) return found;
  if (found.length === 0 && looksMangled(value)) {
    return [{ bytes: MANGLED, encoding: 'utf8', prefix: '' }];
  }
  return found;
}

/**
 * Where handlers cut a value before decoding its base64, each with the fewest bytes an image read
 * from there is looked at with: nowhere, after its first or last comma (`value.split(',')[1]`,
 * `.pop()`), after its first or last `base64,` (`split(';base64,')`,
 * `replace(/^data:.+;base64,/, '')`, `indexOf('base64,') + 7`), and at each run of base64 whose
 * decoding reads an image start on past other characters (see `readOnImageStarts`; any cut
 * before it that skips only such characters decodes as it does), there only when it reads on
 * into more than a placeholder (`PLACEHOLDER_BYTES`: a header in prose reads on into a few
 * words). Throws `INVALID_IMAGE` for a value of more than `MAX_READ_ON_STARTS` of those: each
 * costs a decoding of the value's rest.
 */
function cutPositions(value: string): Map<number, number> {
  const cuts = new Map(separatorCuts(value).map((cut) => [cut, MIN_IMAGE_BYTES]));
  const starts = readOnImageStarts(value);
  if (starts.length > MAX_READ_ON_STARTS) {
    throw new GuardError('INVALID_IMAGE', {
      detail: `a text field holds ${starts.length} image starts its base64 decoding reads on past other characters: more than can be checked`,
    });
  }
  for (const start of starts) if (!cuts.has(start)) cuts.set(start, PLACEHOLDER_BYTES);
  return cuts;
}

/**
 * The value's start, and after its first and last comma and its first and last `base64,`: where
 * handlers cut it before decoding what follows (see `cutPositions`). Each once.
 */
function separatorCuts(value: string): number[] {
  const cuts = new Set([0]);
  for (const separator of [',', 'base64,']) {
    const first = value.indexOf(separator);
    if (first === -1) continue;
    cuts.add(first + separator.length);
    cuts.add(value.lastIndexOf(separator) + separator.length);
  }
  return [...cuts];
}

/** Image starts read on past other characters that one value may hold (no post has two). */
const MAX_READ_ON_STARTS = 8;

/** Bytes enough to tell a signature (BMP's is the longest: ten). */
const HEAD_BYTES = 12;

/**
 * Node's base64 decoding of `text` when it is an image (its start, and bytes enough for one).
 * Read from the first 64 characters when they hold sixteen Node reads (they decide the first
 * twelve bytes); in full only when they do not (text mostly of skipped characters) or they
 * start like an image.
 */
function nodeBase64Image(text: string): Buffer | undefined {
  const head = Buffer.from(text.slice(0, 64), 'base64');
  if (head.length >= HEAD_BYTES && !startsLikeImage(head)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length >= MIN_IMAGE_BYTES && startsLikeImage(bytes) ? bytes : undefined;
}

/** '\\' and '&', where a JSON escape or an HTML character reference starts. */
const ESCAPE_STARTS = new Set([0x5c, 0x26]);

/**
 * Whether one of `sorted` (in `Buffer.compare` order) is `bytes` followed by more: the first
 * not below `bytes` is, if any is (a binary search, so thousands of images cost no more).
 */
function continuedIn(sorted: readonly Buffer[], bytes: Buffer): boolean {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (Buffer.compare(sorted[middle] as Buffer, bytes) < 0) low = middle + 1;
    else high = middle;
  }
  const next = sorted[low];
  return (
    next !== undefined && next.length > bytes.length && next.subarray(0, bytes.length).equals(bytes)
  );
}

/**
 * Fewer bytes than any picture: what base64 of this size holds among other text is a 1×1
 * placeholder GIF (`<img src="data:image/gif;base64,R0lGODlhAQAB…">`, common in pasted HTML) or a
 * header in a code sample, never anything a viewer could make out; refusing it (422, smaller than
 * `minWidth`) would refuse such posts. Base64 only: its span is exact (a browser reads no further),
 * where a percent-encoded body may be cut short by a raw character the page reads on through.
 */
const PLACEHOLDER_BYTES = 128;

function isPlaceholder(image: EmbeddedImage): boolean {
  return image.form !== 'percent' && image.bytes.length < PLACEHOLDER_BYTES;
}

/** Where the base64 a handler decodes after a cut at `from` starts: its first character. */
function base64Start(value: string, from: number): number {
  let i = from;
  while (i < value.length && !BASE64_CHAR.test(value[i] as string)) i++;
  return i;
}
const BASE64_CHAR = /[A-Za-z0-9+/_-]/;

/**
 * `bytes` is `image`, whole (ended where its own structure ends), followed by bytes in which no
 * other image starts: the text after it read as base64. An image cut short is not: what follows
 * it may be its own rest, written past a character Node's decoding skips (`/9j/) 4AAQ…`).
 */
function isFollowedByText(bytes: Buffer, image: Buffer): boolean {
  return (
    bytes.length > image.length &&
    bytes.subarray(0, image.length).equals(image) &&
    endsWhole(image) &&
    !imageStartsWithin(bytes, image.length)
  );
}

/** Whether `image` ends where its structure says (TIFF, which has no end marker, never does). */
function endsWhole(image: Buffer): boolean {
  const type = knownImageType(image);
  if (!type || type === 'image/tiff') return false;
  try {
    return readHeader(image, type).end === image.length;
  } catch {
    return false; // cut short, or no image: its rest may follow
  }
}

function encode(value: string, encoding: Decoding): Buffer {
  if (encoding !== 'utf16be') return Buffer.from(value, encoding);
  return Buffer.from(value, 'utf16le').swap16();
}

/**
 * `bytes` as text that `encoding` decodes back to them (`original` tells base64's alphabet).
 * UTF-16 holds whole pairs: an odd length gets a zero byte after the image's end. UTF-8 cannot
 * hold every byte sequence: bytes it cannot hold are refused (`INVALID_IMAGE`), never handed on
 * as something other than what was checked.
 */
function asText(
  bytes: Buffer,
  encoding: Exclude<FieldEncoding, 'embedded'>,
  original: string,
): string {
  if (encoding === 'utf8') {
    const text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes)) {
      throw new GuardError('INVALID_IMAGE', {
        detail:
          'the sanitized image in a UTF-8 text field is not valid UTF-8: it cannot be handed on',
      });
    }
    return text;
  }
  switch (encoding) {
    case 'base64':
      return bytes.toString(/[-_]/.test(original) ? 'base64url' : 'base64');
    case 'utf16le':
      return evenLength(bytes).toString('utf16le');
    case 'utf16be':
      return evenLength(bytes).swap16().toString('utf16le');
    case 'data-url':
    case 'latin1':
      return bytes.toString('latin1');
    default:
      return bytes.toString(encoding);
  }
}

/** A copy of `bytes` padded with a zero byte to an even length. */
function evenLength(bytes: Buffer): Buffer {
  const copy = Buffer.alloc(bytes.length + (bytes.length % 2));
  bytes.copy(copy);
  return copy;
}

/** An image whose bytes a UTF-8 decoding destroyed. */
export const MANGLED = Symbol('mangled image');

const REPLACEMENT = 0xfffd;
/** Signatures that start with a byte over 0x7F, which UTF-8 text cannot hold. */
const MANGLED_SIGNATURES = [
  [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  [0xff, 0xd8, 0xff],
];

/**
 * A PNG or JPEG signature whose bytes over 0x7F became U+FFFD. (GIF's and TIFF's are all ASCII:
 * a UTF-8 decoding leaves them whole, and the decodings above judge such a value.)
 */
function looksMangled(value: string): boolean {
  return MANGLED_SIGNATURES.some((signature) =>
    signature.every((byte, i) => {
      const code = value.charCodeAt(i);
      return code === byte || (byte > 0x7f && code === REPLACEMENT);
    }),
  );
}
