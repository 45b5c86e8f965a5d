import { afterEach, describe, expect, it, vi } from 'vitest';
import { photodnaGuard } from '../../src/adapters/fetch.js';
import { defaultMaxBufferedBytes } from '../../src/core/upload-budget.js';
import { InvalidOptionsError } from '../../src/errors.js';
import { applyRouteOverrides, parseGuardOptions } from '../../src/options.js';

const matcher = { match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }) };

describe('parseGuardOptions', () => {
  it('fills every default, all limits finite', () => {
    const config = parseGuardOptions({ matcher });
    expect(config).toMatchObject({
      apiVersion: 'v2',
      enhance: false,
      policy: 'block',
      failMode: 'closed',
      scanTimeoutMs: 30_000,
    });
    expect(config.limits).toEqual({
      maxFileSize: 4_194_304,
      minWidth: 160,
      minHeight: 160,
      maxPixels: 100_000_000,
      maxFiles: 10,
      maxFields: 100,
      maxFieldSize: 65_536,
      maxFieldNameSize: 200,
      maxFieldDepth: 4,
      maxArrayIndex: 100,
      maxParts: 120,
      maxBufferedBytes: defaultMaxBufferedBytes(),
      bodyIdleMs: 60_000,
    });
    for (const value of Object.values(config.limits)) expect(Number.isFinite(value)).toBe(true);
  });

  it('merges partial limits over the defaults', () => {
    expect(parseGuardOptions({ matcher, limits: { maxFiles: 2 } }).limits).toMatchObject({
      maxFiles: 2,
      maxFileSize: 4_194_304,
    });
  });

  it.each([
    [{ limits: { maxFileSize: 0 } }, 'limits.maxFileSize'],
    [{ limits: { maxPixels: 1.5 } }, 'limits.maxPixels'],
    [{ limits: { bodyIdleMs: 0 } }, 'limits.bodyIdleMs'],
    [{ limits: { bodyIdleMs: Number.POSITIVE_INFINITY } }, 'limits.bodyIdleMs'],
    // Past a timer's longest delay, Node would fire it after 1 ms.
    [{ limits: { bodyIdleMs: 2 ** 31 } }, 'limits.bodyIdleMs'],
    [{ scanTimeoutMs: -1 }, 'scanTimeoutMs'],
    // Each a timer: one past its longest delay would fire at once (every check timed out).
    [{ scanTimeoutMs: 2 ** 31 }, 'scanTimeoutMs'],
    [{ hookTimeoutMs: 2 ** 31 }, 'hookTimeoutMs'],
    [{ queue: { redis: 'redis://127.0.0.1:6379', lockMs: 2 ** 31 } }, 'queue'],
    [{ pdq: { lists: { a: 'a.txt' }, pollIntervalMs: 2 ** 31 } }, 'pdq.pollIntervalMs'],
    [{ apiVersion: 'v3' }, 'apiVersion'],
    [{ baseUrl: 'not a url' }, 'baseUrl'],
    [{ logger: { info() {} } }, 'logger'],
    [{ quarantine: { dir: '' } }, 'quarantine'],
    [{ quarantine: { dir: '/q', preserveDays: 1e8 } }, 'quarantine.preserveDays'],
    [{ quarantine: { dir: '/q', preserveDays: 36_501 } }, 'quarantine.preserveDays'],
    [{ policy: [{ path: 'no-slash', policy: 'flag' }] }, 'policy'],
    [{ reporter: { reporterEmail: 'not-an-email' } }, 'reporter.reporterEmail'],
    [{ rateLimit: { perSecond: 0 } }, 'rateLimit.perSecond'],
    [{ client: { retry: { maxAttempts: 0 } } }, 'client.retry.maxAttempts'],
    [{ client: { timeouts: { connectMs: -5 } } }, 'client.timeouts.connectMs'],
    [{ hasher: 'not a function' }, 'hasher'],
    [{ hasher: async () => 'AAAA' }, 'hasher'], // with the custom matcher: one or the other
    [{ batchWindowMs: 101 }, 'batchWindowMs'],
    [{ batchWindowMs: -1 }, 'batchWindowMs'],
    [{ pdq: { lists: { a: 'a.txt' }, mode: 'only' } }, 'pdq.mode'], // with the custom matcher
    [{ pdq: { lists: { a: 'a.txt' }, threshold: 257 } }, 'pdq.threshold'],
  ])('%j fails naming %s', (options, path) => {
    try {
      parseGuardOptions({ matcher, ...options });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).paths.some((p) => p.startsWith(path))).toBe(true);
      expect((error as Error).message).toContain(path);
    }
  });

  it('suggests the intended key for a typo', () => {
    expect(() => parseGuardOptions({ matcher, failmode: 'open' })).toThrow(
      /did you mean 'failMode'/,
    );
    expect(() => parseGuardOptions({ matcher, rateLimit: { perSec: 1 } })).toThrow(
      /rateLimit\.perSec.*'perSecond'/,
    );
  });

  it("requires a quarantine store when a rule can be 'quarantine'", () => {
    expect(() =>
      parseGuardOptions({ matcher, policy: [{ path: '/a', policy: 'quarantine' }] }),
    ).toThrow(/quarantine/);
  });
});

describe('applyRouteOverrides', () => {
  const base = parseGuardOptions({ matcher });
  const route = {
    policy: base.policy,
    failMode: base.failMode,
    scanTimeoutMs: base.scanTimeoutMs,
    hookTimeoutMs: base.hookTimeoutMs,
    onMatch: base.onMatch,
    rejectionBody: base.rejectionBody,
    matchAnswer: base.matchAnswer,
    openOnBusy: base.openOnBusy,
    trailingData: base.trailingData,
    imageFields: base.imageFields,
    sanitize: base.sanitize,
    limits: base.limits,
    defer: base.defer,
  };

  it('overrides only what is given, merging limits', () => {
    const next = applyRouteOverrides(
      route,
      { failMode: 'open', limits: { maxFiles: 1 } },
      false,
      false,
      true,
    );
    expect(next.failMode).toBe('open');
    expect(next.policy).toBe('block');
    expect(next.limits).toEqual({ ...base.limits, maxFiles: 1 });
  });

  it('validates a route limit as the guard option: limits.bodyIdleMs', () => {
    const next = applyRouteOverrides(route, { limits: { bodyIdleMs: 5_000 } }, false, false, true);
    expect(next.limits).toEqual({ ...base.limits, bodyIdleMs: 5_000 });
    expect(() =>
      applyRouteOverrides(route, { limits: { bodyIdleMs: 2 ** 31 } }, false, false, true),
    ).toThrow(/bodyIdleMs/);
  });

  it("refuses a route 'defer' when the guard has no queue", () => {
    expect(() => applyRouteOverrides(route, { defer: true }, false, false, false)).toThrow(/queue/);
    expect(
      applyRouteOverrides(route, { defer: { when: 'overflow' } }, false, false, true).defer,
    ).toEqual({
      when: 'overflow',
    });
  });

  it('refuses client-level options in a route (they are shared)', () => {
    expect(() => applyRouteOverrides(route, { apiKey: 'x' }, false, false, true)).toThrow(/apiKey/);
  });
});

describe('the guard: a baseUrl with parts that are never sent', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  const reason = (what: string) =>
    `must not carry ${what}: it is never sent. PhotoDNA authenticates with apiKey (the Ocp-Apim-Subscription-Key header, or PHOTODNA_API_KEY); give the URL without it`;

  it.each([
    ['https://base-user:base-secret-pw@emulator.test', 'a user name or password'],
    ['https://emulator.test/?subscription-key=query-secret-key', 'a query string'],
  ])('refuses %s as the option or PHOTODNA_BASE_URL, never quoting it', (url, what) => {
    const refusal = (create: () => unknown) => {
      try {
        create();
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidOptionsError);
        const message = (error as Error).message;
        for (const secret of ['base-user', 'base-secret-pw', 'query-secret-key']) {
          expect(message).not.toContain(secret);
        }
        return message;
      }
      return expect.unreachable('accepted');
    };
    // Before: accepted, the parts dropped.
    expect(refusal(() => photodnaGuard({ apiKey: 'k', baseUrl: url }))).toContain(
      `option 'baseUrl': ${reason(what)}`,
    );
    vi.stubEnv('PHOTODNA_BASE_URL', url);
    expect(refusal(() => photodnaGuard({ apiKey: 'k' }))).toContain(
      `baseUrl (from PHOTODNA_BASE_URL): ${reason(what)}`,
    );
  });
});
