/**
 * Text for a terminal that holds names an uploader chose (a stored file's path, its original
 * name, forwarding headers): control characters, line breaks and bidi overrides escaped. Printed
 * raw, one could forge a line with a newline, erase one with a terminal escape (`\x1b[2K`, or C1
 * `\x9b2K`), or turn `evil\u202egnp.exe` into what reads as `evilexe.png`.
 */

const UNPRINTABLE = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/gu;
/** What `JSON.stringify` leaves raw of them: DEL and C1 controls, U+2028/9, bidi overrides. */
const RAW_IN_JSON = /[\u007f-\u009f\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/gu;
/**
 * For a page: the same, and every other invisible format character (`\p{Cf}`: bidi marks,
 * zero-width spaces and joiners, BOM, soft hyphen, tag characters) and every character Unicode
 * says to draw as nothing (`\p{Default_Ignorable_Code_Point}`: Hangul fillers, which are letters
 * and pass for blank names, variation selectors, the combining grapheme joiner). A terminal keeps
 * those as the CLI always printed them; on a page they hide or reorder what a reviewer reads.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

const escaped = (char: string) => {
  const code = char.codePointAt(0) as number;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** `text` with each unprintable character as its `\uXXXX` escape. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escaped);
}

/** `text` for a reviewer's screen: as `printable`, and each invisible format character escaped. */
export function visible(text: string): string {
  return text.replace(INVISIBLE, escaped);
}

/**
 * `JSON.stringify(value, null, space)` with no unprintable character left raw: the same JSON
 * (they only occur inside strings, where `\uXXXX` is the same character), safe on a terminal.
 */
export function printableJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(RAW_IN_JSON, escaped);
}
