import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koaMulter from '@koa/multer';
import KoaRouter from '@koa/router';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import request from 'supertest';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GuardOptions, photodnaGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import type { Logger } from '../../src/types.js';
import { png } from '../fixtures/images.js';
import { adapters, type Running } from '../helpers/adapters.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

/**
 * Setup faults are visible by default: one `process.emitWarning` each, once, naming the fix;
 * `logger: false` silences them and a logger receives them instead.
 */
const emulated = useEmulator({ rateLimit: false, apiKey: 'the-right-key' });
const CLEAN = png(200, 200, 41);

interface Seen {
  code: string;
  message: string;
}
let warnings: Seen[] = [];
const onWarning = (warning: Error & { code?: string }) => {
  if (warning.code?.startsWith('PHOTODNA_GUARD_') || warning.code === 'TEST_SENTINEL')
    warnings.push({ code: warning.code, message: warning.message });
};
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Waits until a warning with `code` arrived (warnings are delivered on a later tick). */
async function warned(code: string): Promise<Seen> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = warnings.find((w) => w.code === code);
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(`no ${code} warning; got ${JSON.stringify(warnings)}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Every warning emitted so far, in order: a sentinel marks the point (warnings keep their order). */
async function allWarnings(): Promise<string[]> {
  process.emitWarning('sentinel', { code: 'TEST_SENTINEL' });
  await warned('TEST_SENTINEL');
  return warnings.filter((w) => w.code !== 'TEST_SENTINEL').map((w) => w.code);
}

const wrongKey = (extra: GuardOptions = {}): GuardOptions => ({
  apiKey: 'a-wrong-key',
  baseUrl: emulated.emulator.url,
  ...extra,
});

for (const adapter of adapters.filter((a) => a.name === 'express5' || a.name === 'koa3')) {
  describe(`setup warnings (${adapter.name})`, () => {
    let server: Running | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    const post = (path: string, bytes: Buffer = CLEAN) =>
      request(server?.url ?? '')
        .post(path)
        .attach('f', bytes, 'a.png');

    it('401 from the service: one warning naming the key option, once', async () => {
      server = await adapter.start(wrongKey(), [{ path: '/upload' }], { global: true });
      expect((await post('/upload')).status).toBe(503);
      const warning = await warned('PHOTODNA_GUARD_UNAUTHORIZED');
      expect(warning.message).toContain("Check the 'apiKey' option or PHOTODNA_API_KEY");
      expect(warning.message).not.toContain('a-wrong-key');
      expect((await post('/upload')).status).toBe(503);
      expect(await allWarnings()).toEqual(['PHOTODNA_GUARD_UNAUTHORIZED']);
    });

    it('403 from the service: one warning about the quota', async () => {
      server = await adapter.start(
        emulated.options({ apiKey: 'the-right-key' }),
        [{ path: '/upload' }],
        {
          global: true,
        },
      );
      emulated.emulator.faults.push({ type: 'status', status: 403 });
      expect((await post('/upload')).status).toBe(503);
      expect((await warned('PHOTODNA_GUARD_QUOTA_EXCEEDED')).message).toContain('403');
    });

    it('an error event with no listener: one warning, once; none with a listener', async () => {
      server = await adapter.start(
        {
          apiKey: 'the-right-key',
          baseUrl: emulated.emulator.url,
          client: { retry: { maxAttempts: 1 } },
        },
        [{ path: '/upload' }],
        { global: true },
      );
      emulated.emulator.faults.push(
        { type: 'status', status: 500 },
        { type: 'status', status: 500 },
      );
      expect((await post('/upload', png(200, 200, 42))).status).toBe(503);
      const warning = await warned('PHOTODNA_GUARD_UNHANDLED_ERROR');
      expect(warning.message).toContain("guard.on('error', listener)");
      expect((await post('/upload', png(200, 200, 43))).status).toBe(503);
      expect(await allWarnings()).toEqual(['PHOTODNA_GUARD_UNHANDLED_ERROR']);

      await server.close();
      warnings = [];
      server = await adapter.start(
        {
          apiKey: 'the-right-key',
          baseUrl: emulated.emulator.url,
          client: { retry: { maxAttempts: 1 } },
          on: { error: () => {} },
        },
        [{ path: '/upload' }],
        { global: true },
      );
      emulated.emulator.faults.push({ type: 'status', status: 500 });
      expect((await post('/upload', png(200, 200, 44))).status).toBe(503);
      expect(await allWarnings()).toEqual([]);
    });

    it('report() with missing reporter fields: one warning naming every missing field', async () => {
      let reported: Promise<unknown> = Promise.resolve();
      server = await adapter.start(
        emulated.options({
          apiKey: 'the-right-key',
          reporter: { orgName: 'Example' },
          onMatch: (event) => {
            reported = event.report().catch((error: unknown) => error);
          },
        }),
        [{ path: '/upload' }],
        { global: true },
      );
      expect((await post('/upload', knownImage())).status).toBe(422);
      expect(await reported).toBeInstanceOf(Error);
      const warning = await warned('PHOTODNA_GUARD_REPORTER_FIELDS');
      expect(warning.message).toContain(
        'missing reporterName, reporterEmail, ncmecUser, ncmecPassword',
      );
      expect(warning.message).toContain("'reporter' option");
    });

    it('a quarantine directory that is not private: one warning, and it is made 0700', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pdg-warn-q-'));
      dirs.push(dir);
      chmodSync(dir, 0o755);
      server = await adapter.start(
        emulated.options({
          apiKey: 'the-right-key',
          policy: 'quarantine',
          quarantine: { dir },
        }),
        [{ path: '/upload' }],
        { global: true },
      );
      expect((await post('/upload', knownImage())).status).toBe(422);
      const warning = await warned('PHOTODNA_GUARD_QUARANTINE_DIR');
      expect(warning.message).toContain('had mode 755');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    });

    it('logger: false silences them; a logger receives them instead', async () => {
      server = await adapter.start(wrongKey({ logger: false }), [{ path: '/upload' }], {
        global: true,
      });
      expect((await post('/upload')).status).toBe(503);
      expect(await allWarnings()).toEqual([]);
      await server.close();

      const warned: unknown[] = [];
      const logger: Logger = {
        debug() {},
        info() {},
        warn: (obj) => warned.push(obj),
        error() {},
      };
      server = await adapter.start(wrongKey({ logger }), [{ path: '/upload' }], { global: true });
      expect((await post('/upload')).status).toBe(503);
      expect(warned).toEqual([{ code: 'PHOTODNA_GUARD_UNAUTHORIZED' }]);
      expect(await allWarnings()).toEqual([]);
    });
  });
}

describe('scan() before any parser warns with the fix', () => {
  it('Express: guard.scan() mounted before multer', async () => {
    const guard = photodnaGuard(emulated.options({ apiKey: 'the-right-key' }));
    const app = express();
    app.post('/upload', guard.scan(), multer().single('f'), (_req, res) => res.json({ ok: true }));
    const res = await request(app).post('/upload').attach('f', CLEAN, 'a.png');
    expect(res.status).toBe(503);
    const warning = await warned('PHOTODNA_GUARD_NOT_CONFIGURED');
    expect(warning.message).toContain('place it after multer');
    await request(app).post('/upload').attach('f', CLEAN, 'a.png');
    expect(await allWarnings()).toEqual(['PHOTODNA_GUARD_NOT_CONFIGURED']);
    await guard.close();
  });

  it('Koa: guard.scan() mounted before @koa/multer', async () => {
    const guard = koaGuard(emulated.options({ apiKey: 'the-right-key' }));
    const app = new Koa();
    const router = new KoaRouter();
    router.post('/upload', guard.scan() as never, koaMulter().single('f'), (ctx) => {
      ctx.body = { ok: true };
    });
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1');
    try {
      const res = await request(server).post('/upload').attach('f', CLEAN, 'a.png');
      expect(res.status).toBe(503);
      expect((await warned('PHOTODNA_GUARD_NOT_CONFIGURED')).message).toContain(
        'place it after multer',
      );
    } finally {
      server.close();
      await guard.close();
    }
  });
});
