import { describe, expect, it, vi } from 'vitest';

/**
 * `sanitize: 'reencode'` without sharp installed fails when the guard (or the route) is made,
 * naming the optional peer, never at the first upload. The module resolver is made unable to
 * find sharp, as on a machine where it is not installed; the guard itself is the real one.
 */
vi.mock('node:module', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:module')>();
  const createRequire = (url: string | URL) => {
    const require = actual.createRequire(url);
    const resolve = (id: string, options?: { paths?: string[] }) => {
      if (id === 'sharp') {
        throw Object.assign(new Error("Cannot find module 'sharp'"), { code: 'MODULE_NOT_FOUND' });
      }
      return require.resolve(id, options);
    };
    return Object.assign((id: string) => require(id), require, { resolve });
  };
  return { ...actual, createRequire, default: { ...actual, createRequire } };
});

const { InvalidOptionsError, photodnaGuard } = await import('../../src/index.js');
const { RecordingMatcher } = await import('../helpers/matchers.js');

describe('issue 11 class 4: sanitize without sharp', () => {
  it("'reencode' is refused at guard creation with the install command", () => {
    let error: unknown;
    try {
      photodnaGuard({ matcher: new RecordingMatcher(), sanitize: 'reencode' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toMatch(/sanitize.*sharp.*npm install sharp/);
    expect((error as InstanceType<typeof InvalidOptionsError>).paths).toEqual(['sanitize']);
  });

  it("'reencode' on a route is refused when the route is made; 'metadata' needs no sharp", async () => {
    const guard = photodnaGuard({ matcher: new RecordingMatcher(), sanitize: 'metadata' });
    expect(() => guard.route({ sanitize: 'reencode' })).toThrow(/npm install sharp/);
    expect(() => guard.route({ sanitize: 'metadata' })).not.toThrow();
    await guard.close();
  });
});

describe('pdq without sharp', () => {
  it('warns when the guard is made (PHOTODNA_GUARD_NOT_CONFIGURED), naming the install command', async () => {
    const warnings: Array<{ code?: string; text: string }> = [];
    const logger = {
      debug() {},
      info() {},
      warn: (fields: { code?: string }, text: string) => void warnings.push({ ...fields, text }),
      error() {},
    };
    const hash = 'f'.repeat(64);
    const guard = photodnaGuard({
      pdq: { lists: [{ name: 'mine', hashes: [hash] }], watch: false },
      logger,
    });
    // Before: nothing until the first JPEG, refused 503 with an error event.
    expect(warnings).toEqual([
      {
        code: 'PHOTODNA_GUARD_NOT_CONFIGURED',
        text: expect.stringMatching(/pdq needs sharp.*npm install sharp.*503 SCAN_UNAVAILABLE/),
      },
    ]);
    await guard.close();
  });
});
