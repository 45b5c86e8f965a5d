import { describe, expect, it } from 'vitest';
import { decodeDataUrl, startsLikeDataUrl } from '../../../src/core/data-url.js';
import { png } from '../../fixtures/images.js';

const image = png(200, 200, 9);
const b64 = image.toString('base64');
const percent = [...image].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

/** What Node's own fetch (undici, the fetch standard) makes of the URL: bytes, or a failure. */
async function fetched(url: string): Promise<Buffer | 'failure'> {
  try {
    return Buffer.from(await (await fetch(url)).arrayBuffer());
  } catch {
    return 'failure';
  }
}

const VARIANTS: Array<[string, string]> = [
  ['plain', `data:image/png;base64,${b64}`],
  ['a leading space', ` data:image/png;base64,${b64}`],
  ['a leading newline and tab', `\n\tdata:image/png;base64,${b64}`],
  ['trailing spaces and controls', `data:image/png;base64,${b64} \u0001 `],
  ['a tab inside the scheme', `da\tta:image/png;base64,${b64}`],
  ['newlines inside the body', `data:image/png;base64,${b64.slice(0, 40)}\n${b64.slice(40)}`],
  ['spaces inside the body', `data:image/png;base64,${b64.slice(0, 40)} ${b64.slice(40)}`],
  ['upper-case scheme and base64', `DATA:image/png;BASE64,${b64}`],
  ['a space before base64', `data:image/png; base64,${b64}`],
  ['spaces around the type', `data:  image/png ;base64,${b64}`],
  ['no type', `data:;base64,${b64}`],
  ['another type', `data:text/plain;base64,${b64}`],
  ['a charset before base64', `data:image/png;charset=utf-8;base64,${b64}`],
  ['no padding', `data:image/png;base64,${b64.replace(/=+$/, '')}`],
  ['a fragment', `data:image/png;base64,${b64}#frag`],
  ['percent-encoded', `data:image/png,${percent}`],
  ['percent-encoded, no type', `data:,${percent}`],
  ['bad base64', 'data:image/png;base64,ab$c'],
  ['base64 of a wrong length', 'data:image/png;base64,abcde'],
  ['no comma', `data:image/png;base64${b64}`],
  ['base64 not last', `data:image/png;base64;x=y,${b64}`],
];

describe('decodeDataUrl', () => {
  it.each(VARIANTS)('decodes %s exactly as fetch() does', async (_, url) => {
    const expected = await fetched(url);
    const decoded = decodeDataUrl(url);
    if (expected === 'failure') expect(decoded).toBeUndefined();
    else expect(decoded?.bytes.equals(expected)).toBe(true);
  });

  it('keeps the type, lower case and without parameters', () => {
    expect(decodeDataUrl(`DATA: Image/PNG ;charset=x; Base64,${b64}`)?.type).toBe('image/png');
    expect(decodeDataUrl(`data:,${percent}`)?.type).toBe('');
  });

  it('tells data: URLs from other text at once', () => {
    for (const yes of ['data:', ' \n DaTa:x', 'd\ta\nt\ra:'])
      expect(startsLikeDataUrl(yes)).toBe(true);
    for (const no of ['', 'dat', 'data', 'datum:', 'xdata:', 'data;', 'https://x/data:']) {
      expect(startsLikeDataUrl(no)).toBe(false);
      expect(decodeDataUrl(no)).toBeUndefined();
    }
  });
});
