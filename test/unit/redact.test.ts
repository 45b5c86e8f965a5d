import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { PhotoDnaServiceError } from '../../src/errors.js';
import { loggableError, redactJson, redactUrl, redactUrlIn } from '../../src/redact.js';

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

describe('loggableError', () => {
  it('keeps the class, message, stack and primitive fields of every error in the chain, drops fields holding objects', () => {
    const bytes = Buffer.from('matched image bytes');
    const auth = { name: 'auth', args: ['user', 'redis-SECRET-pw'] };
    const inner = Object.assign(new Error('WRONGPASS invalid password'), { command: auth });
    const outer = new PhotoDnaServiceError('The shared rate limiter (Redis) is unavailable', {
      retryable: true,
      guardCode: 'SCAN_UNAVAILABLE',
      reason: 'rate-limiter-down',
      cause: Object.assign(new Error('upload failed', { cause: inner }), {
        code: 'ERR_BAD_RESPONSE',
        config: { data: bytes },
      }),
    });
    const copy = loggableError(outer);
    expect(copy).toBeInstanceOf(PhotoDnaServiceError);
    expect(copy).toMatchObject({
      message: outer.message,
      stack: outer.stack,
      reason: 'rate-limiter-down',
    });
    const cause = copy.cause as Error & Record<string, unknown>;
    expect(cause).toMatchObject({ message: 'upload failed', code: 'ERR_BAD_RESPONSE' });
    expect(cause.config).toBeUndefined();
    expect((cause.cause as Error).message).toBe('WRONGPASS invalid password');
    expect((cause.cause as Record<string, unknown>).command).toBeUndefined();
    // What pino prints of it.
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    pino(stream).error({ err: copy }, 'failed');
    const line = lines.join('');
    expect(JSON.parse(line).err).toMatchObject({
      type: 'PhotoDnaServiceError',
      reason: 'rate-limiter-down',
    });
    expect(line).toContain('WRONGPASS invalid password');
    expect(line).not.toContain('redis-SECRET-pw');
    expect(line).not.toContain(JSON.stringify([...bytes]).slice(1, -1));
  });

  it('ends a cause chain that loops', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    let depth = 0;
    for (let e: unknown = loggableError(a); e instanceof Error; e = e.cause) depth++;
    expect(depth).toBeLessThan(12);
  });
});
