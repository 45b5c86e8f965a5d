import { describe, expect, it } from 'vitest';
import { fsPath, nameOf } from '../../../src/backfill/names.js';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

describe('backfill file names', () => {
  it('keeps every name, UTF-8 or not, and gives back its exact bytes', () => {
    const names = [
      bytes('plain.png'),
      bytes('\ufeffbom-\u00e9-\u{1f600}.png'), // a BOM, 2- and 4-byte characters
      bytes('a', [0xff], '.png'),
      bytes([0xed, 0xb2, 0x80], 'encoded-surrogate'), // UTF-8 for U+DC80: not valid UTF-8
      bytes([0xc3], 'truncated', [0xe2, 0x82]),
      bytes([0xf0, 0x9f, 0x98], '\u{1f600}', [0xc0, 0xaf]), // cut 4-byte, overlong '/'
      bytes('\ufffd.png'),
    ];
    const decoded = names.map(nameOf);
    expect(new Set(decoded).size).toBe(names.length);
    decoded.forEach((name, i) => {
      expect(Buffer.from(fsPath(name))).toEqual(names[i]);
      // JSON (the journal) keeps it as it is.
      expect(JSON.parse(JSON.stringify(name))).toBe(name);
    });
    expect(nameOf(bytes('a', [0xff], '\u00e9'))).toBe('a\udcff\u00e9'); // Python's os.fsdecode
    expect(fsPath('\u{10080}')).toBe('\u{10080}'); // a surrogate pair is no escaped byte
  });
});
