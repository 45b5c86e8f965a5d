/**
 * Images written into text among other text: a `data:` URL in a post's Markdown
 * (`![](data:image/jpeg;base64,…)`), HTML (`<img src="data:…">`), CSS (`url(data:…)`), or base64
 * inside a JSON string. A page that renders the text shows them, so each is checked like a file,
 * however many a value holds and wherever they sit in it.
 *
 * The search is linear in the value's length and allocates only for what it decodes: a text
 * field of 64 KiB made to look like the start of many images costs about a millisecond.
 */
import { percentDecode } from './data-url.js';
import { MIN_IMAGE_BYTES, startsLikeImage } from './image-start.js';
import { digitValue, isAsciiSpace } from './text-chars.js';

/** An image found inside a text value, and the characters that hold it. */
export interface EmbeddedImage {
  bytes: Buffer;
  /** The span of the value that encodes the image: `value.slice(start, end)`. */
  start: number;
  end: number;
  /** How that span encodes it. */
  form: 'base64' | 'base64url' | 'percent';
}

/** `data:`, in any case, with the tabs and newlines the URL parser removes anywhere. */
const DATA_SCHEME = /d[\t\n\r]*a[\t\n\r]*t[\t\n\r]*a[\t\n\r]*:/gi;
/** Where a URL written in Markdown, HTML or CSS ends. */
const URL_END = /[\s"'<>`)]/;

/**
 * Every image written into `value`, in the order they appear: the body of a base64 `data:` URL
 * (whitespace inside it skipped, as a browser skips it; found by its `;base64,` also where
 * `data:` is written otherwise, as an HTML entity), of a percent-encoded one, and bare base64 (in
 * a JSON string, say) that starts after a character outside `[A-Za-z0-9]`, without whitespace
 * inside (or prose that mentions a signature, `iVBORw0KGgo is how a PNG starts`, would read as
 * one).
 */
export function embeddedImages(value: string, minBase64Bytes = MIN_IMAGE_BYTES): EmbeddedImage[] {
  const found: EmbeddedImage[] = [];
  const add = (
    bytes: Buffer,
    start: number,
    end: number,
    form: EmbeddedImage['form'],
    min = MIN_IMAGE_BYTES,
  ) => {
    if (bytes.length >= min && startsLikeImage(bytes)) found.push({ bytes, start, end, form });
  };
  // Decoded only when it can hold `minBase64Bytes` (whitespace and escapes counted, an upper
  // bound): a value of thousands of small ones costs no allocation for each.
  const minChars = Math.max(MIN_BASE64_CHARS, Math.ceil((minBase64Bytes * 4) / 3));
  const addBase64 = (start: number, end: number) => {
    if (end - start < minChars) return;
    const bytes = spanBytes(value, start, end);
    add(bytes, start, end, /[-_]/.test(value.slice(start, end)) ? 'base64url' : 'base64');
  };

  // The end of the last `data:` before the current comma, found by one search forward, and only
  // for a comma followed by the start of an image.
  DATA_SCHEME.lastIndex = 0;
  let scheme: RegExpExecArray | null | undefined;
  let schemeEnd = -1;
  let previous = -1; // the comma before the current one
  // A `data:` URL's body starts after the first comma after `data:`, however long its type.
  const followsDataScheme = (comma: number): boolean => {
    if (scheme === undefined) scheme = DATA_SCHEME.exec(value);
    while (scheme && scheme.index < comma) {
      schemeEnd = scheme.index + scheme[0].length;
      scheme = DATA_SCHEME.exec(value);
    }
    return schemeEnd > previous;
  };

  // `data:` URL bodies: after a comma.
  for (let comma = value.indexOf(','); comma !== -1; comma = value.indexOf(',', comma + 1)) {
    if (endsWithBase64Type(value, comma)) {
      const start = skipSpace(value, comma + 1);
      if (startsLikeImage(HEAD, 0, decodeHead(value, start, 'spaced'))) {
        const end = base64End(value, start, true);
        addBase64(start, end);
        comma = Math.max(comma, end - 1);
      }
    } else if (startsLikePercentImage(value, comma + 1) && followsDataScheme(comma)) {
      const start = comma + 1;
      const stop = value.slice(start).search(URL_END);
      const end = stop === -1 ? value.length : start + stop;
      // However short: where the page reads on past the character that ends it here (a space,
      // a line break or ')' inside a quoted attribute), the image is longer; a cut one is refused.
      const bytes = percentDecode(value.slice(start, end));
      add(bytes, start, end, 'percent', 0);
      comma = Math.max(comma, end - 1);
    }
    previous = comma;
  }

  // Bare base64, outside the `data:` URLs above (where it would be a line of one of them): each
  // run of the alphabets looked at once, by its first characters, and only if long enough.
  const urls = found.slice();
  let next = 0; // the first of `urls` not yet passed
  for (let i = 0; i < value.length; i++) {
    if (!isBase64(value.charCodeAt(i))) continue;
    const start = i;
    while (i < value.length && isBase64(value.charCodeAt(i))) i++;
    const runEnd = i; // `i` is now a character outside both alphabets (or the end)
    if (runEnd - start < minChars) continue;
    while (next < urls.length && (urls[next] as EmbeddedImage).end <= start) next++;
    const url = urls[next];
    if (url && url.start <= start) {
      i = Math.max(i, url.end - 1);
      continue;
    }
    if (!startsLikeImage(HEAD, 0, decodeHead(value, start, 'bare'))) continue;
    const end = base64End(value, start, false); // with its '=' padding
    addBase64(start, end);
    i = Math.max(i, end - 1);
  }
  return found.sort((a, b) => a.start - b.start);
}

/**
 * The base64 from `start` as a browser reads a `data:` URL's body (whitespace skipped, `%XX`
 * read) and as Node's `Buffer.from(text, 'base64')` reads it there: what a handler cutting the
 * value at `start` gets first; and where it ends.
 */
export function base64At(value: string, start: number): { bytes: Buffer; end: number } {
  const end = base64End(value, start, true);
  return { bytes: spanBytes(value, start, end), end };
}

/**
 * Where a handler's `Buffer.from(text, 'base64')` of the text from a run of base64 reads the
 * start of an image across the run's end: Node's decoding skips every character outside both
 * alphabets (reading one above U+00FF by its low byte) up to the first '=', so a JSON string
 * `"/9j/ 4AAQ…"` or `"<100 characters>) <the rest>"` decodes whole, though no run in it is an
 * image the search above finds (a short one is left as text). Only starts whose next bytes still
 * read as their format (a PNG's IHDR, a JPEG's marker, a GIF's first block), so prose that names
 * a signature (`/9j/ is a path`) is none. Linear: each character is looked at a few times.
 */
export function readOnImageStarts(value: string): number[] {
  const starts: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (!isNodeBase64(value.charCodeAt(i))) continue;
    const start = i;
    while (i < value.length && isNodeBase64(value.charCodeAt(i))) i++;
    // Most runs are words: a signature's base64 starts with one of a few characters.
    if (!SIGNATURE_FIRST[value.charCodeAt(start) & 0xff]) continue;
    const next = nextNodeBase64(value, i);
    if (next === -1) continue; // the value, or Node's decoding (at '='), ends after this run
    const length = decodeHead(value, start, 'node');
    if (startsLikeImage(HEAD, 0, length) && readsOnAsImage(length)) starts.push(start);
    i = next - 1;
  }
  return starts;
}

/** The first character of each signature's base64 (JPEG's in both alphabets), by low byte. */
const SIGNATURE_FIRST = (() => {
  const table = new Uint8Array(256);
  for (const char of '/_iRSTQ') table[char.charCodeAt(0)] = 1;
  return table;
})();

/** A character Node's base64 decoding reads (by its low byte, as it reads every character). */
function isNodeBase64(code: number): boolean {
  return (SEXTETS[code & 0xff] ?? -1) >= 0;
}

/** The next character Node's decoding reads from `from`, or -1 where it stops first ('=', end). */
function nextNodeBase64(value: string, from: number): number {
  for (let i = from; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code & 0xff) === 0x3d) return -1;
    if (isNodeBase64(code)) return i;
  }
  return -1;
}

/**
 * Whether the bytes after the signature in `HEAD` go on as the format's own do (those not
 * decoded, past the value's end, count as going on: a cut image is refused elsewhere).
 */
function readsOnAsImage(length: number): boolean {
  const byte = (i: number) => (i < length ? (HEAD[i] as number) : -1);
  switch (byte(0)) {
    case 0x89: {
      // PNG: IHDR (or Apple's CgBI) is the first chunk.
      const name = String.fromCharCode(byte(12), byte(13), byte(14), byte(15));
      return length < 16 || name === 'IHDR' || name === 'CgBI';
    }
    case 0xff: // JPEG: a marker segment follows SOI (0xFF fills, then a marker of 0xC0 up)
      return length < 4 || byte(3) >= 0xc0;
    case 0x47: {
      // GIF: a colour table, or a block, follows the screen descriptor.
      const packed = byte(10);
      return length < 14 || (packed & 0x80) !== 0 || [0x21, 0x2c, 0x3b].includes(byte(13));
    }
    default:
      return true; // TIFF, BMP: their signatures are long enough
  }
}

/** The bytes of a base64 span (percent escapes in it read first, as a browser reads them). */
function spanBytes(value: string, start: number, end: number): Buffer {
  const span = value.slice(start, end);
  // A browser percent-decodes a `data:` URL's body before it reads its base64 (`%2F` is '/').
  const text = span.includes('%') ? percentDecode(span).toString('latin1') : span;
  return Buffer.from(text, 'base64');
}

/** Base64 characters of the fewest bytes an image has (whitespace aside). */
const MIN_BASE64_CHARS = Math.ceil((MIN_IMAGE_BYTES * 4) / 3);

/**
 * Whether the text before `comma` ends a base64 `data:` URL's type: `;base64` (spaces allowed
 * before `base64`, whitespace before the comma, any case), as the fetch standard reads it.
 * Whatever precedes it: also where `data:` is written otherwise (an HTML entity).
 */
function endsWithBase64Type(value: string, comma: number): boolean {
  let i = comma - 1;
  while (i >= 0 && isAsciiSpace(value.charCodeAt(i))) i--;
  for (let k = BASE64_WORD.length - 1; k >= 0; k--, i--) {
    if (i < 0 || (value.charCodeAt(i) | 0x20) !== BASE64_WORD.charCodeAt(k)) return false;
  }
  while (i >= 0 && value.charCodeAt(i) === 0x20) i--;
  return i >= 0 && value.charCodeAt(i) === 0x3b; // ';'
}
const BASE64_WORD = 'base64';

/** Whether percent-encoded (or plain) text at `start` decodes to the start of an image. */
function startsLikePercentImage(value: string, start: number): boolean {
  let length = 0;
  for (let i = start; i < value.length && length < HEAD.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x09 || code === 0x0a || code === 0x0d) continue; // the URL parser drops them
    if (code === 0x25) {
      const byte = percentByte(value, i);
      if (byte < 0) return false;
      HEAD[length++] = byte;
      i += 2;
    } else if (code > 0x7e || code <= 0x20 || ENDS_URL.has(code)) break;
    else HEAD[length++] = code;
    if (length === 2 && !SIGNATURE_PAIRS.has((HEAD[0] as number) * 256 + (HEAD[1] as number))) {
      return false;
    }
  }
  return startsLikeImage(HEAD, 0, length);
}

/** The characters of `URL_END` that are not whitespace. */
const ENDS_URL = new Set([0x22, 0x27, 0x3c, 0x3e, 0x60, 0x29]);

/** The first two bytes of each signature: PNG, JPEG, GIF, TIFF (II, MM), BMP. */
const SIGNATURE_PAIRS = new Set([0x8950, 0xffd8, 0x4749, 0x4949, 0x4d4d, 0x424d]);

/** The first bytes that text at a position decodes to: through a PNG's first chunk name. */
const HEAD = new Uint8Array(16);

/** The byte `%XX` at `at` (a '%') stands for, or -1 where two hexadecimal digits do not follow. */
function percentByte(value: string, at: number): number {
  const high = digitValue(value.charCodeAt(at + 1), 16);
  const low = digitValue(value.charCodeAt(at + 2), 16);
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

/**
 * How the first characters of base64 are read: `bare`, as written; `spaced` (a `data:` URL's body),
 * whitespace skipped and `%XX` read as a browser reads them; `node`, as Node's
 * `Buffer.from(text, 'base64')` reads on, every other character skipped (one above U+00FF by its
 * low byte) up to the first '='.
 */
type HeadReading = 'bare' | 'spaced' | 'node';

/** Decodes the first sixteen bytes (or fewer) of base64 from `start` into `HEAD`; their count. */
function decodeHead(value: string, start: number, reading: HeadReading): number {
  let bits = 0;
  let count = 0;
  let length = 0;
  for (let i = start; length < HEAD.length && i < value.length; i++) {
    let code = value.charCodeAt(i);
    if (reading === 'node') {
      code &= 0xff;
      if (code === 0x3d) break; // '='
    } else if (reading === 'spaced') {
      if (code === 0x25) {
        code = percentByte(value, i);
        if (code < 0) break;
        i += 2;
      }
      if (isAsciiSpace(code)) continue;
    }
    const sextet = SEXTETS[code] ?? -1;
    if (sextet < 0) {
      if (reading === 'node') continue;
      break;
    }
    bits = ((bits << 6) | sextet) & 0x3fff; // the bits not yet read: fewer than 14
    count += 6;
    if (count >= 8) {
      count -= 8;
      HEAD[length++] = (bits >> count) & 0xff;
      if (length === 2 && !SIGNATURE_PAIRS.has((HEAD[0] as number) * 256 + (HEAD[1] as number))) {
        return 0;
      }
    }
  }
  return length;
}

/** Each character's six bits in either base64 alphabet; -1 for any other character. */
const SEXTETS = (() => {
  const table = new Int8Array(256).fill(-1); // 256: a character's low byte is in range
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  table[0x2b] = 62; // '+'
  table[0x2d] = 62; // '-'
  table[0x2f] = 63; // '/'
  table[0x5f] = 63; // '_'
  return table;
})();

/**
 * Where base64 starting at `start` ends: after its last character of either alphabet (or of its
 * `=` padding); with `spaced` (a `data:` URL's body), whitespace between them allowed and each
 * character also percent-encoded, as a browser reads them there.
 */
function base64End(value: string, start: number, spaced: boolean): number {
  let end = start;
  let padded = false;
  for (let i = start; i < value.length; i++) {
    let code = value.charCodeAt(i);
    if (spaced && code === 0x25) {
      code = percentByte(value, i); // the character a browser reads there
      if (code < 0) break;
      i += 2;
    }
    if (spaced && isAsciiSpace(code)) continue;
    if (code === 0x3d)
      padded = true; // '='
    else if (padded || !isBase64(code)) break;
    end = i + 1;
  }
  return end;
}

function skipSpace(value: string, from: number): number {
  let i = from;
  while (i < value.length && isAsciiSpace(value.charCodeAt(i))) i++;
  return i;
}

/** A character of either base64 alphabet. */
function isBase64(code: number): boolean {
  return (SEXTETS[code] ?? -1) >= 0;
}
