/**
 * `data:` URLs decoded as a browser's `<img src>` or `fetch()` decodes them: the WHATWG URL
 * parser (leading and trailing controls and spaces dropped, tabs and newlines removed anywhere,
 * the scheme in any case), then the fetch standard's data: URL processor (the type before the
 * first comma, trimmed; a `;base64` ending, spaces allowed before `base64`, in any case; else
 * percent-decoding). A stricter test of the value's first characters would let an image through
 * that every browser still shows (issue 11).
 */

/** A decoded `data:` URL: the type as written (trimmed, lower case) and the body's bytes. */
export interface DataUrl {
  type: string;
  bytes: Buffer;
}

/** `;base64` at the end of the type part, spaces allowed before `base64` (fetch standard). */
const BASE64_SUFFIX = /;[ ]*base64$/i;
const SCHEME = 'data:';
const HEX_BYTE = /^[0-9a-f]{2}$/i;
/** ASCII whitespace as the fetch standard trims it. */
const ASCII_SPACE = /^[\t\n\f\r ]+|[\t\n\f\r ]+$/g;

/** The decoded URL, or undefined when `value` is not a `data:` URL a browser would decode. */
export function decodeDataUrl(value: string): DataUrl | undefined {
  if (!startsLikeDataUrl(value)) return undefined;
  let href: string;
  try {
    href = new URL(value).href;
  } catch {
    return undefined;
  }
  if (!href.startsWith('data:')) return undefined;
  const hash = href.indexOf('#');
  const input = hash === -1 ? href.slice(5) : href.slice(5, hash);
  const comma = input.indexOf(',');
  if (comma === -1) return undefined;
  const typePart = input.slice(0, comma).replace(ASCII_SPACE, '');
  const body = percentDecode(input.slice(comma + 1));
  if (!BASE64_SUFFIX.test(typePart)) return { type: mimeOf(typePart), bytes: body };
  const bytes = forgivingBase64(body);
  if (!bytes) return undefined;
  return { type: mimeOf(typePart.replace(BASE64_SUFFIX, '')), bytes };
}

/**
 * Whether the value starts with `data:` as the URL parser reads it: after any leading controls
 * and spaces, with tabs and newlines skipped, in any case. Cheap: only such values are parsed.
 */
export function startsLikeDataUrl(value: string): boolean {
  let i = 0;
  while (i < value.length && value.charCodeAt(i) <= 0x20) i++;
  let matched = 0;
  for (; i < value.length && matched < SCHEME.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x09 || code === 0x0a || code === 0x0d) continue;
    // The letters in any case, the colon as it is.
    const got = matched < SCHEME.length - 1 ? code | 0x20 : code;
    if (got !== SCHEME.charCodeAt(matched)) return false;
    matched++;
  }
  return matched === SCHEME.length;
}

/** The type without parameters, lower case (`image/png;charset=x` → `image/png`). */
function mimeOf(typePart: string): string {
  return (typePart.split(';')[0] ?? '').trim().toLowerCase();
}

/** Percent-decoding into bytes (a serialized URL holds only ASCII). */
export function percentDecode(input: string): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    const hex = code === 0x25 ? input.slice(i + 1, i + 3) : '';
    if (HEX_BYTE.test(hex)) {
      out[n++] = Number.parseInt(hex, 16);
      i += 2;
    } else out[n++] = code & 0xff;
  }
  return out.subarray(0, n);
}

/** The fetch standard's forgiving-base64 decode; undefined where a browser fails. */
function forgivingBase64(bytes: Buffer): Buffer | undefined {
  let text = bytes.toString('latin1').replace(/[\t\n\f\r ]/g, '');
  if (text.length % 4 === 0) text = text.replace(/={1,2}$/, '');
  if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}
