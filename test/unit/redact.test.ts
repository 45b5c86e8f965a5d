import { describe, expect, it } from 'vitest';
import { redactJson, redactUrl, redactUrlIn } from '../../src/redact.js';

describe('redactUrlIn', () => {
  const url = 'https://svc%40corp:p%40ss@img.test/a.png?X-Amz-Signature=tok%2Fen#frag';

  it('replaces the URL by its redacted form and its secret parts wherever else they appear', () => {
    const text = `cannot fetch ${url}; user svc@corp, password p@ss, p%40ss, signature tok/en, frag`;
    const out = redactUrlIn(text, url, 1_000);
    expect(out).toContain(`cannot fetch ${redactUrl(url)}`);
    expect(redactUrl(url)).toBe('https://img.test/a.png?[redacted]');
    for (const secret of [
      'svc%40corp',
      'svc@corp',
      'p@ss',
      'p%40ss',
      'tok%2Fen',
      'tok/en',
      'frag',
    ]) {
      expect(out).not.toContain(secret);
    }
  });

  it('leaves text about a URL without secrets as it was, and removes a string that is not a URL', () => {
    expect(redactUrlIn('GET https://img.test/a.png failed', 'https://img.test/a.png')).toBe(
      'GET https://img.test/a.png failed',
    );
    // A short query value is no token: the rest of the text keeps its 1s.
    expect(redactUrlIn('https://img.test/a.png?w=1 is 1 of 1', 'https://img.test/a.png?w=1')).toBe(
      'https://img.test/a.png?[redacted] is 1 of 1',
    );
    // Nor a fragment or a user name of a character or two.
    expect(
      redactUrlIn(
        'https://u:secret@img.test/a.png#1 failed 1 time',
        'https://u:secret@img.test/a.png#1',
      ),
    ).toBe('https://img.test/a.png?[redacted] failed 1 time');
    expect(redactUrlIn('fetching not a url%zz failed', 'not a url%zz')).toBe(
      'fetching [redacted] failed',
    );
  });
});

describe('redactJson', () => {
  it('removes a secret from every string and key at any depth, uncapped, and keeps the rest', () => {
    const long = 'x'.repeat(1_000);
    const value = JSON.parse(
      `{"a":"key SECRET1","n":3,"t":true,"z":null,"list":[{"SECRET1":["deep SECRET1"]}],"long":"${long}","__proto__":{"p":"SECRET1"}}`,
    );
    const out = redactJson(value, ['SECRET1']) as Record<string, unknown>;
    expect(JSON.stringify(out)).not.toContain('SECRET1');
    expect(out).toMatchObject({ a: 'key [redacted]', n: 3, t: true, z: null, long });
    expect(out.list).toEqual([{ '[redacted]': ['deep [redacted]'] }]);
    // An own `__proto__` key (as JSON.parse makes it) stays data, never the copy's prototype.
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ p: '[redacted]' });
  });
});
