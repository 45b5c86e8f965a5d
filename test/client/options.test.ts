import { describe, expect, it } from 'vitest';
import { resolveClientOptions } from '../../src/client/options.js';
import { InvalidOptionsError } from '../../src/errors.js';

const noEnv = {};

function invalid(options: unknown, env: NodeJS.ProcessEnv = noEnv): InvalidOptionsError {
  try {
    resolveClientOptions(options, env);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionsError);
    return error as InvalidOptionsError;
  }
  throw new Error('expected InvalidOptionsError');
}

describe('resolveClientOptions', () => {
  it('fills the documented defaults', () => {
    const resolved = resolveClientOptions({ apiKey: 'k' }, noEnv);
    expect(resolved).toMatchObject({
      apiKey: 'k',
      origin: 'https://api.microsoftmoderator.com',
      pathPrefix: '',
      apiVersion: 'v2',
      enhance: false,
      evaluation: undefined,
      rateLimit: { perSecond: 5, maxQueue: 100 },
      timeouts: { connectMs: 5000, headersMs: 10000, bodyMs: 10000, callMs: 15000 },
      retry: { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5000, budgetMs: 30000 },
      maxResponseBytes: 1024 * 1024,
      connections: 10,
    });
  });

  it('defaults the rate to 10/s for v1', () => {
    expect(resolveClientOptions({ apiKey: 'k', apiVersion: 'v1' }, noEnv).rateLimit.perSecond).toBe(
      10,
    );
  });

  it('reads PHOTODNA_API_KEY and PHOTODNA_BASE_URL, options first', () => {
    const env = { PHOTODNA_API_KEY: 'env-key', PHOTODNA_BASE_URL: 'http://127.0.0.1:9999/base/' };
    expect(resolveClientOptions({}, env)).toMatchObject({
      apiKey: 'env-key',
      origin: 'http://127.0.0.1:9999',
      pathPrefix: '/base',
    });
    expect(resolveClientOptions({ apiKey: 'mine' }, env).apiKey).toBe('mine');
  });

  it('names apiKey when no key is given', () => {
    const error = invalid({});
    expect(error.paths).toEqual(['apiKey']);
    expect(error.message).toContain('PHOTODNA_API_KEY');
    expect(invalid({ apiKey: '   ' }).paths).toEqual(['apiKey']);
  });

  it('says a blank key is blank, not missing, whether given or from PHOTODNA_API_KEY', () => {
    for (const error of [
      invalid({ apiKey: '' }),
      invalid({ apiKey: ' \t' }),
      invalid({}, { PHOTODNA_API_KEY: '  ' }),
    ]) {
      expect(error.paths).toEqual(['apiKey']);
      expect(error.message).toContain('apiKey: empty or only whitespace');
      expect(error.message).not.toContain('Required');
    }
    expect(invalid({}).message).toContain('Required: pass apiKey or set PHOTODNA_API_KEY');
  });

  it('rejects unknown keys, naming them', () => {
    const error = invalid({ apiKey: 'k', maxQueue: 3 });
    expect(error.message).toContain('maxQueue');
    expect(invalid({ apiKey: 'k', timeouts: { connectTimeout: 1 } }).message).toContain(
      'connectTimeout',
    );
  });

  it('names the nested path of a bad value', () => {
    expect(invalid({ apiKey: 'k', timeouts: { headersMs: 0 } }).paths).toEqual([
      'timeouts.headersMs',
    ]);
    expect(invalid({ apiKey: 'k', rateLimit: { perSecond: 2.5 } }).paths).toEqual([
      'rateLimit.perSecond',
    ]);
    expect(invalid({ apiKey: 'k', retry: { baseDelayMs: 500, maxDelayMs: 100 } }).paths).toEqual([
      'retry.maxDelayMs',
    ]);
    expect(invalid({ apiKey: 'k', baseUrl: 'ftp://example.com' }).paths).toEqual(['baseUrl']);
    expect(invalid({ apiKey: 'k', logger: { info() {} } }).paths).toEqual(['logger']);
    expect(invalid({ apiKey: 'k', evaluation: 'sometimes' }).paths).toEqual(['evaluation']);
  });

  it('never echoes the key in its messages', () => {
    const error = invalid({ apiKey: 'secret-key-123', connections: 0 });
    expect(error.message).not.toContain('secret-key-123');
  });
});

describe('resolveClientOptions: a baseUrl with parts that are never sent', () => {
  // Requests go to the URL's origin and path: credentials or a query string would be dropped
  // silently, while the user believes they authenticate with them.
  it.each([
    ['https://base-user:base-secret-pw@emulator.test', 'a user name or password'],
    ['https://base-user@emulator.test/prefix', 'a user name or password'],
    ['https://emulator.test/?subscription-key=query-secret-key', 'a query string'],
  ])('refuses %s, naming baseUrl and apiKey, never quoting it', (baseUrl, what) => {
    for (const [options, env, named] of [
      [{ apiKey: 'k', baseUrl }, noEnv, 'baseUrl: '],
      [{ apiKey: 'k' }, { PHOTODNA_BASE_URL: baseUrl }, 'baseUrl (from PHOTODNA_BASE_URL): '],
    ] as const) {
      // Before: accepted, the parts dropped.
      const error = invalid(options, env);
      expect(error.paths).toEqual(['baseUrl']);
      expect(error.message).toBe(
        `Invalid PhotoDnaClient options: ${named}must not carry ${what}: it is never sent. PhotoDNA authenticates with apiKey (the Ocp-Apim-Subscription-Key header, or PHOTODNA_API_KEY); give the URL without it`,
      );
      for (const secret of ['base-user', 'base-secret-pw', 'query-secret-key']) {
        expect(JSON.stringify(error.cause)).not.toContain(secret);
      }
    }
  });

  it('keeps a path prefix, a bare "?" and a trailing slash', () => {
    for (const baseUrl of ['https://emulator.test/prefix/', 'https://emulator.test/prefix?']) {
      expect(resolveClientOptions({ apiKey: 'k', baseUrl }, noEnv)).toMatchObject({
        origin: 'https://emulator.test',
        pathPrefix: '/prefix',
      });
    }
  });
});
