/**
 * File names as the backfill's paths: Linux names are bytes, not necessarily UTF-8, and decoding
 * them the usual way turns every bad byte into U+FFFD, so `a\xff.png` read as `a\ufffd.png`: a
 * different file, or none. A name that is not UTF-8 keeps each bad byte as a lone surrogate
 * U+DC80-U+DCFF instead (Python's `os.fsdecode`, PEP 383), which JSON keeps (`"\udcff"`) and
 * `fsPath` turns back into the exact bytes. A UTF-8 name never holds a lone surrogate, so no
 * two names meet.
 */

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A directory entry's name (its raw bytes) as a path segment. */
export function nameOf(raw: Buffer): string {
  const text = raw.toString('utf8');
  if (Buffer.from(text).equals(raw)) return text;
  let name = '';
  for (let at = 0; at < raw.length; ) {
    const length = charLength(raw, at);
    name += length
      ? raw.toString('utf8', at, at + length)
      : String.fromCharCode(0xdc00 + (raw[at] as number));
    at += length || 1;
  }
  return name;
}

/** The bytes of one UTF-8 character at `at`, or 0 when the byte there starts none. */
function charLength(raw: Buffer, at: number): number {
  if ((raw[at] as number) < 0x80) return 1;
  for (let length = 2; length <= 4 && at + length <= raw.length; length++) {
    try {
      strict.decode(raw.subarray(at, at + length));
      return length;
    } catch {
      // not (yet) a character
    }
  }
  return 0;
}

/** What to give `fs` for a path: its bytes when it holds a bad byte kept by `nameOf`. */
export function fsPath(path: string): string | Buffer {
  if (!/[\udc80-\udcff]/u.test(path)) return path;
  const bytes: Buffer[] = [];
  for (const char of path) {
    const code = char.codePointAt(0) as number;
    bytes.push(code >= 0xdc80 && code <= 0xdcff ? Buffer.of(code - 0xdc00) : Buffer.from(char));
  }
  return Buffer.concat(bytes);
}
