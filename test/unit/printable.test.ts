import { describe, expect, it } from 'vitest';
import { printable, printableJson, visible } from '../../src/printable.js';

describe('printable', () => {
  const hostile = 'a\nb\r\x1b[2K\x9b2K\x7f\u2028\u2029\u202egnp.exe\u2066';

  it('escapes control characters, line breaks and bidi overrides, nothing else', () => {
    expect(printable(hostile)).toBe(
      String.raw`a\u000ab\u000d\u001b[2K\u009b2K\u007f\u2028\u2029\u202egnp.exe\u2066`,
    );
    expect(printable('évidence é.png 名前')).toBe('évidence é.png 名前');
  });

  it('printableJson is the same JSON, with none of them raw, indented or not', () => {
    const value = { name: hostile, nested: [hostile, 1, null], [hostile]: true };
    for (const space of [undefined, 2]) {
      const json = printableJson(value, space);
      expect(JSON.parse(json)).toEqual(value);
      // Nothing left for printable() to escape but the indentation's newlines.
      const lines = json.split('\n');
      expect(lines.map(printable)).toEqual(lines);
    }
  });

  it('visible escapes them and every other invisible format character, for a page', () => {
    const marks = 'a\u200fb\u200bc\u200dd\ufeffe\u00adf\u061cg\u{e0041}h';
    expect(visible(hostile)).toBe(printable(hostile));
    expect(visible(marks)).toBe(String.raw`a\u200fb\u200bc\u200dd\ufeffe\u00adf\u061cg\u{e0041}h`);
    expect(printable(marks)).toBe(marks); // the CLI's output is unchanged
    expect(visible('évidence é.png 名前 👍')).toBe('évidence é.png 名前 👍');
  });

  it('visible escapes Hangul fillers and variation selectors too: they draw as nothing', () => {
    // Hangul fillers are letters (`\p{Lo}`), variation selectors combining marks (`\p{Mn}`):
    // neither is a format character, and each shows as blank (a route or name that looks empty).
    const fillers = '\u115f\u1160\u3164\uffa0';
    const selectors = 'a\ufe00b\ufe0fc\u{e0100}d\u{e01ef}e\u034ff\u180bg';
    expect(visible(fillers)).toBe(String.raw`\u115f\u1160\u3164\uffa0`);
    expect(visible(selectors)).toBe(String.raw`a\ufe00b\ufe0fc\u{e0100}d\u{e01ef}e\u034ff\u180bg`);
    expect(printable(fillers + selectors)).toBe(fillers + selectors); // the CLI's output is unchanged
    expect(visible('한국어 파일')).toBe('한국어 파일'); // Hangul itself is not touched
  });
});
