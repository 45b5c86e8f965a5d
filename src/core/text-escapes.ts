/**
 * A text field's value as its reader sees it once the text's own escapes are read: a page reads
 * HTML character references before the URL of an `<img src>` (`&#105;VBOR…` is `iVBOR…`,
 * `&#100;ata:` is `data:`), and a handler's `JSON.parse` reads JSON string escapes before its
 * `Buffer.from(…, 'base64')` (PHP's `json_encode` writes every '/' as `\/`; Python's
 * `base64.encodebytes` wraps lines, JSON writes `\n`), and a page reads CSS escapes before a
 * `url(…)`. An image written through them is in none of the value's own spans, so
 * `embeddedImages` reads these too.
 */
import { digitValue, isAsciiSpace } from './text-chars.js';

/**
 * The value with its JSON escapes, then its HTML character references, read (each alone and both,
 * as a JSON string holding HTML), and each of these with its CSS escapes read (a page's
 * `url(data:…)`); only those that differ from the value, and from each other.
 */
export function unescapedViews(value: string): string[] {
  const views = new Set<string>();
  const json = value.includes('\\') ? jsonUnescaped(value) : value;
  if (json !== value) views.add(json);
  for (const text of [value, json]) {
    if (text.includes('&')) views.add(htmlUnescaped(text));
  }
  // CSS escapes last: a style attribute's references are read before its CSS.
  for (const text of [value, ...views]) {
    if (text.includes('\\')) views.add(cssUnescaped(text));
  }
  views.delete(value);
  return [...views];
}

/**
 * CSS's hexadecimal escapes read, as a page reads a stylesheet or a `style` attribute before the
 * URL of a `url(data:…)` (`\\69VBOR…` is `iVBOR…`): up to six digits and one whitespace character
 * after them (zero, a surrogate or past U+10FFFF is U+FFFD). Its other escapes (`\\i`, `\\+`)
 * are the character after the backslash, which Node's base64 decoding reads too (it skips the
 * backslash), and a JSON string's `\\n` would read as `n`: left as they are. Everywhere: strings,
 * URLs and the rest are not told apart, a superset is read.
 */
function cssUnescaped(value: string): string {
  let out = '';
  let from = 0;
  for (let at = value.indexOf('\\'); at !== -1; at = value.indexOf('\\', at + 1)) {
    let i = at + 1;
    let code = 0;
    for (let digit = digitValue(value.charCodeAt(i), 16); digit >= 0 && i < at + 7; ) {
      code = code * 16 + digit;
      digit = digitValue(value.charCodeAt(++i), 16);
    }
    if (i === at + 1) continue;
    if (value.charCodeAt(i) === 0x0d && value.charCodeAt(i + 1) === 0x0a) i += 2;
    else if (isAsciiSpace(value.charCodeAt(i))) i++;
    const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
    out += value.slice(from, at) + (valid ? String.fromCodePoint(code) : '\ufffd');
    from = i;
    at = i - 1;
  }
  return from === 0 ? value : out + value.slice(from);
}

/** The character each short JSON escape reads as ('' for whitespace, which Node's base64 skips). */
const JSON_SHORT: ReadonlyMap<number, string> = new Map([
  [0x22, '"'],
  [0x5c, '\\'],
  [0x2f, '/'],
  [0x62, '\b'],
  [0x66, ''],
  [0x6e, ''],
  [0x72, ''],
  [0x74, ''],
]);

/**
 * JSON escapes read (anywhere: strings are not told from the rest, a superset is read); an
 * escaped whitespace character dropped, as Node's base64 decoding skips it (so base64 wrapped
 * into lines reads as one run). One pass, no regular expression: a value of escapes only costs
 * about a microsecond per hundred characters.
 */
function jsonUnescaped(value: string): string {
  let out = '';
  let from = 0;
  for (let at = value.indexOf('\\'); at !== -1; at = value.indexOf('\\', at)) {
    const next = value.charCodeAt(at + 1);
    const short = JSON_SHORT.get(next);
    let read: string | undefined;
    let length = 2;
    if (short !== undefined) read = short;
    else if (next === 0x75) {
      const code = hexNumber(value, at + 2, at + 6);
      if (code !== undefined && at + 6 <= value.length) {
        const char = String.fromCharCode(code);
        read = /[\t\n\f\r ]/.test(char) ? '' : char;
        length = 6;
      }
    }
    if (read === undefined) {
      at += 1; // a backslash that escapes nothing stays
      continue;
    }
    out += value.slice(from, at) + read;
    at += length;
    from = at;
  }
  return from === 0 ? value : out + value.slice(from);
}

/** The hexadecimal number written in `value` from `start` to `end`, if all of it is digits. */
function hexNumber(value: string, start: number, end: number): number | undefined {
  let code = 0;
  for (let i = start; i < end; i++) {
    const digit = digitValue(value.charCodeAt(i), 16);
    if (digit < 0) return undefined;
    code = code * 16 + digit;
  }
  return code;
}

/** Named character references for ASCII characters (no letter or digit has one; HTML's names). */
const NAMED: ReadonlyMap<string, string> = new Map(
  Object.entries({
    Tab: '\t',
    NewLine: '\n',
    excl: '!',
    quot: '"',
    QUOT: '"',
    num: '#',
    dollar: '$',
    percnt: '%',
    amp: '&',
    AMP: '&',
    apos: "'",
    lpar: '(',
    rpar: ')',
    ast: '*',
    midast: '*',
    plus: '+',
    comma: ',',
    period: '.',
    sol: '/',
    colon: ':',
    semi: ';',
    lt: '<',
    LT: '<',
    equals: '=',
    gt: '>',
    GT: '>',
    quest: '?',
    commat: '@',
    lsqb: '[',
    lbrack: '[',
    bsol: '\\',
    rsqb: ']',
    rbrack: ']',
    Hat: '^',
    lowbar: '_',
    UnderBar: '_',
    grave: '`',
    DiacriticalGrave: '`',
    lcub: '{',
    lbrace: '{',
    verbar: '|',
    vert: '|',
    VerticalLine: '|',
    rcub: '}',
    rbrace: '}',
  }),
);

/**
 * HTML character references read, once, as a page reads an attribute or text: numeric ones (the
 * ';' optional, as browsers read them; out of range is U+FFFD) and the named ones of `NAMED` (with
 * their ';'). One pass, no regular expression.
 */
function htmlUnescaped(value: string): string {
  let out = '';
  let from = 0;
  for (let at = value.indexOf('&'); at !== -1; at = value.indexOf('&', at + 1)) {
    const reference = referenceAt(value, at);
    if (!reference) continue;
    out += value.slice(from, at) + reference.text;
    from = at + reference.length;
    at = from - 1;
  }
  return from === 0 ? value : out + value.slice(from);
}

/** The character reference at `at` (an '&'): what it reads as and how long it is. */
function referenceAt(value: string, at: number): { text: string; length: number } | undefined {
  let i = at + 1;
  if (value.charCodeAt(i) === 0x23) {
    // '#', then decimal digits, or 'x' and hexadecimal ones
    i++;
    const hex = (value.charCodeAt(i) | 0x20) === 0x78;
    if (hex) i++;
    const radix = hex ? 16 : 10;
    const first = i;
    let code = 0;
    for (let digit = digitValue(value.charCodeAt(i), radix); digit >= 0; ) {
      code = Math.min(code * radix + digit, 0x110000); // past the last code point: invalid
      digit = digitValue(value.charCodeAt(++i), radix);
    }
    if (i === first) return undefined;
    if (value.charCodeAt(i) === 0x3b) i++; // ';'
    const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
    return { text: valid ? String.fromCodePoint(code) : '\ufffd', length: i - at };
  }
  while (isLetter(value.charCodeAt(i))) i++;
  if (i === at + 1 || value.charCodeAt(i) !== 0x3b) return undefined;
  const text = NAMED.get(value.slice(at + 1, i));
  return text === undefined ? undefined : { text, length: i + 1 - at };
}

function isLetter(code: number): boolean {
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x7a;
}
