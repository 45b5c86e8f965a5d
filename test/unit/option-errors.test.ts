import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../src/errors.js';
import { photodnaGuard } from '../../src/index.js';
import { applyRouteOverrides, parseGuardOptions } from '../../src/options.js';

const matcher = { match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }) };

/** The message `photodnaGuard(options)` throws, with the paths it names. */
function refusal(options: Record<string, unknown>): { message: string; paths: string[] } {
  try {
    parseGuardOptions(options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionsError);
    const e = error as InvalidOptionsError;
    return { message: e.message, paths: e.paths };
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('errors that teach: enums list their values', () => {
  it.each([
    [{ policy: 'reject' }, "'block', 'quarantine' or 'flag'", "got 'reject'"],
    [{ apiVersion: 'v3' }, "'v1' or 'v2'", "got 'v3'"],
    [{ failMode: 'strict' }, "'closed' or 'open'", "got 'strict'"],
    [{ evaluation: 'never' }, "'always' or 'afterinitialquota'", "got 'never'"],
    [{ policy: [{ path: '/a', policy: 'nope' }] }, "'block', 'quarantine' or 'flag'", "'nope'"],
  ])('%j', (options, values, got) => {
    const { message } = refusal({ matcher, ...options });
    expect(message).toContain(values);
    expect(message).toContain(got);
  });

  it('a policy of the wrong kind names every kind it can be', () => {
    const { message } = refusal({ matcher, policy: 42 });
    expect(message).toContain("'block', 'quarantine' or 'flag'");
    expect(message).toContain('a function (req) => policy');
    expect(message).toContain('path rules [{ path, policy }]');
  });

  it('never echoes a long string (it could be a key)', () => {
    const secret = 'k'.repeat(64);
    expect(refusal({ matcher, apiVersion: secret }).message).not.toContain(secret);
  });

  it('leak: never echoes a subscription key (32 hex characters) given where an enum goes', () => {
    const key = '0123456789abcdef0123456789abcdef';
    expect(refusal({ matcher, evaluation: key }).message).not.toContain(key);
  });

  it.each([
    ['queue', 'redis://:queue-pw-SECRET@redis:6379', "got 'redis://redis:6379'"],
    ['queue', 'redis://guard:pw2-SECRET@h', "got 'redis://h'"],
    ['quarantine', 'https://s3/q?sig=SECRET1', "got 'https://s3/q?[redacted]'"],
  ])('leak: %s given a URL: its password or query string is not echoed', (key, url, got) => {
    const { message } = refusal({ matcher, [key]: url });
    expect(message).not.toContain('SECRET');
    expect(message).toContain(got);
  });
});

describe('errors that teach: a key in the wrong place names where it goes', () => {
  it.each([
    ['maxFileSize', 'limits.maxFileSize'],
    ['minWidth', 'limits.minWidth'],
    ['perSecond', 'rateLimit.perSecond'],
    ['preserveDays', 'quarantine.preserveDays'],
    ['orgName', 'reporter.orgName'],
    ['timeouts', 'client.timeouts'],
  ])('top-level %s → %s', (key, where) => {
    const { message, paths } = refusal({ matcher, [key]: 1 });
    expect(paths).toEqual([key]);
    expect(message).toContain(`did you mean '${where}'?`);
  });

  it('in guard.route(...) too', () => {
    const base = parseGuardOptions({ matcher });
    expect(() => applyRouteOverrides(base, { maxFileSize: 100 }, false, false, true)).toThrow(
      /guard\.route: option 'maxFileSize' is not known \(did you mean 'limits\.maxFileSize'\?\)/,
    );
  });

  it('a typo still gets the nearest key at its own level', () => {
    expect(refusal({ matcher, limits: { maxFilesize: 1 } }).message).toContain(
      "did you mean 'maxFileSize'?",
    );
  });
});

describe('errors that teach: multer options point to scan()', () => {
  it.each(['dest', 'storage', 'fileFilter', 'preservePath'])('%s', (key) => {
    const { message, paths } = refusal({ matcher, [key]: 'x' });
    expect(paths).toEqual([key]);
    expect(message).toContain(`'${key}' is a multer option`);
    expect(message).toContain('guard.scan() after it');
  });

  it.each([
    ['fileSize', 'limits.maxFileSize'],
    ['files', 'limits.maxFiles'],
    ['fields', 'limits.maxFields'],
    ['fieldSize', 'limits.maxFieldSize'],
    ['parts', 'limits.maxParts'],
  ])("multer's limits.%s → %s", (key, ours) => {
    expect(refusal({ matcher, limits: { [key]: 1 } }).message).toContain(
      `that is multer's name: did you mean '${ours}'?`,
    );
  });

  it('limits.headerPairs says the parser bounds part headers', () => {
    expect(refusal({ matcher, limits: { headerPairs: 10 } }).message).toContain(
      'bounded by the multipart parser itself',
    );
  });
});

describe("errors that teach: PhotoDNA's own limits", () => {
  it('maxFileSize over 4 MiB is refused, naming the service limit', () => {
    const { message, paths } = refusal({ apiKey: 'k', limits: { maxFileSize: 10 * 1024 * 1024 } });
    expect(paths).toEqual(['limits.maxFileSize']);
    expect(message).toContain('files over 4 MB (4,194,304 bytes) with 3208');
    expect(() =>
      parseGuardOptions({ apiKey: 'k', limits: { maxFileSize: 4_194_304 } }),
    ).not.toThrow();
  });

  it.each([
    ['maxFileSize', '4mb'],
    ['maxFileSize', '4194304'],
    ['maxFileSize', 4.5],
    ['maxFieldSize', '64kb'],
    ['maxFieldNameSize', '1kb'],
    ['maxBufferedBytes', '512mb'],
    ['maxBufferedBytes', 1.5],
  ])('limits.%s given %j says it wants a whole number of bytes', (key, value) => {
    const { message, paths } = refusal({ apiKey: 'k', limits: { [key]: value } });
    expect(paths).toEqual([`limits.${key}`]);
    expect(message).toContain(`option 'limits.${key}': Expected a whole number of bytes`);
    expect(message).toContain('4 * 1024 * 1024');
  });

  it.each(['minWidth', 'minHeight'])('%s under 160 is refused', (side) => {
    const { message, paths } = refusal({ apiKey: 'k', limits: { [side]: 50 } });
    expect(paths).toEqual([`limits.${side}`]);
    expect(message).toContain('under 160x160 with 3208');
    expect(() => parseGuardOptions({ apiKey: 'k', limits: { [side]: 160 } })).not.toThrow();
  });

  it('rateLimit.perSecond over 5 on v2 and over 10 on v1 is refused', () => {
    const v2 = refusal({ apiKey: 'k', rateLimit: { perSecond: 100 } });
    expect(v2.paths).toEqual(['rateLimit.perSecond']);
    expect(v2.message).toContain('more than PhotoDNA allows on v2 (5 per second');
    expect(v2.message).toContain('.asMatcher()');
    expect(() => parseGuardOptions({ apiKey: 'k', rateLimit: { perSecond: 5 } })).not.toThrow();
    expect(
      refusal({ apiKey: 'k', apiVersion: 'v1', rateLimit: { perSecond: 11 } }).message,
    ).toContain('on v1 (10 per second');
    expect(() =>
      parseGuardOptions({ apiKey: 'k', apiVersion: 'v1', rateLimit: { perSecond: 10 } }),
    ).not.toThrow();
  });

  it('a custom matcher may go past them', () => {
    expect(() =>
      parseGuardOptions({
        matcher,
        limits: { maxFileSize: 10_000_000, minWidth: 1, minHeight: 1 },
        rateLimit: { perSecond: 100 },
      }),
    ).not.toThrow();
  });

  it('guard.route(...) limits are held to them too when the guard uses PhotoDNA', () => {
    const base = parseGuardOptions({ apiKey: 'k' });
    expect(() =>
      applyRouteOverrides(base, { limits: { maxFileSize: 10_000_000 } }, false, true, true),
    ).toThrow(/guard\.route: option 'limits\.maxFileSize': .*4 MB/);
    expect(() =>
      applyRouteOverrides(base, { limits: { maxFileSize: 10_000_000 } }, false, false, true),
    ).not.toThrow();
  });
});

describe('errors that teach: a blank apiKey', () => {
  it.each(['', '   ', '\t\n'])(
    '%j is refused by photodnaGuard, naming apiKey and saying it is blank',
    (apiKey) => {
      let caught: unknown;
      try {
        photodnaGuard({ apiKey });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(InvalidOptionsError);
      const { message, paths } = caught as InvalidOptionsError;
      expect(paths).toEqual(['apiKey']);
      expect(message).toMatch(/^photodnaGuard: option 'apiKey': empty or only whitespace/);
      expect(message).toContain('PHOTODNA_API_KEY');
    },
  );
});

describe('errors that teach: a blank PHOTODNA_API_KEY', () => {
  /** What `photodnaGuard(options)` throws with `PHOTODNA_API_KEY` set to `value`. */
  function refusedWithEnv(value: string, options: Record<string, unknown>): unknown {
    const before = process.env.PHOTODNA_API_KEY;
    process.env.PHOTODNA_API_KEY = value;
    try {
      void photodnaGuard(options).close();
    } catch (error) {
      return error;
    } finally {
      if (before === undefined) delete process.env.PHOTODNA_API_KEY;
      else process.env.PHOTODNA_API_KEY = before;
    }
    return undefined;
  }

  it.each([
    ['', 'no matcher'],
    ['   ', 'no matcher'],
    ['\n', 'no matcher'],
    ['', 'a custom matcher'],
    ['   ', 'a custom matcher'],
  ])(
    "%j with %s is refused at creation, in the guard's words, naming the option and the variable",
    (value, given) => {
      const caught = refusedWithEnv(value, given === 'no matcher' ? {} : { matcher });
      expect(caught).toBeInstanceOf(InvalidOptionsError);
      const { message, paths } = caught as InvalidOptionsError;
      expect(paths).toEqual(['apiKey']);
      expect(message).toMatch(/^photodnaGuard: option 'apiKey': /);
      expect(message).toContain('PHOTODNA_API_KEY is empty or only whitespace');
    },
  );

  it('a key with a trailing newline (read from a file) is taken', () => {
    expect(refusedWithEnv('a-key-from-a-file\n', {})).toBeUndefined();
  });
});
