/**
 * A text field's value as its reader sees it once the text's own escapes are read: a page reads
 * HTML character references before the URL of an `<img src>` (`&#105;VBOR…` is `iVBOR…`,
 * `&#100;ata:` is `data:`), and a handler's `JSON.parse` reads JSON string escapes before its
 * `Buffer.from(…, 'base64')` (PHP's `json_encode` writes every '/' as `\/`; Python's
 * `base64.encodebytes` wraps lines, JSON writes `\n`). An image written through them is in none
 * of the value's own spans, so `embeddedImages` reads these too.
 */

/**
 * The value with its JSON escapes, then its HTML character references, read (each alone and both,
 * as a JSON string holding HTML); only those that differ from the value, and from each other.
 */
export function unescapedViews(value: string): string[] {
  const views = new Set<string>();
  const json = value.includes('\\') ? jsonUnescaped(value) : value;
  if (json !== value) views.add(json);
  for (const text of [value, json]) {
    if (text.includes('&')) views.add(htmlUnescaped(text));
  }
  views.delete(value);
  return [...views];
}

/** A JSON string escape anywhere (strings are not told from the rest: a superset is read). */
const JSON_ESCAPE = /\\(?:u([0-9A-Fa-f]{4})|(["\\/bfnrt]))/g;
const JSON_SHORT: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
  ['b', '\b'],
  ['f', ''],
  ['n', ''],
  ['r', ''],
  ['t', ''],
]);

/**
 * JSON escapes read; an escaped whitespace character dropped, as Node's base64 decoding skips it
 * (so base64 wrapped into lines reads as one run).
 */
function jsonUnescaped(value: string): string {
  return value.replace(JSON_ESCAPE, (_, hex: string | undefined, short: string | undefined) => {
    if (short !== undefined) return JSON_SHORT.get(short) ?? '';
    const char = String.fromCharCode(Number.parseInt(hex as string, 16));
    return /[\t\n\f\r ]/.test(char) ? '' : char;
  });
}

/**
 * A numeric character reference (the ';' optional, as browsers read it), or a named one for an
 * ASCII character (no letter or digit has one; each name here is HTML's).
 */
const HTML_REFERENCE = /&(?:#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));?|([A-Za-z]+);)/g;
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

/** HTML character references read, once, as a page reads an attribute or text. */
function htmlUnescaped(value: string): string {
  return value.replace(
    HTML_REFERENCE,
    (reference, hex: string | undefined, decimal: string | undefined, name: string | undefined) => {
      if (name !== undefined) return NAMED.get(name) ?? reference;
      const code = Number.parseInt((hex ?? decimal) as string, hex === undefined ? 10 : 16);
      const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
      return valid ? String.fromCodePoint(code) : '\ufffd';
    },
  );
}
