/**
 * Fastify wiring mistakes, with the real emulator and a known image: a route the plugin's
 * `onRoute` hook never saw (registered before the plugin, or before a `register` that was not
 * awaited had run) must not hand an upload on unchecked. It is refused 503 SCAN_UNAVAILABLE
 * (`not-configured`), with the setup warning naming the fix.
 */
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type FastifyGuardMode, photodnaGuard } from '../../src/fastify.js';
import type { Logger } from '../../src/types.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';
import { until } from '../helpers/until.js';

expectNoTempFiles();

const emulated = useEmulator();
const KNOWN = knownImage();

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A logger keeping the warnings it is given (the setup warnings go there when one is set). */
function warningLogger(): Logger & { warnings: Array<{ code: unknown; text: string }> } {
  const warnings: Array<{ code: unknown; text: string }> = [];
  return {
    warnings,
    debug() {},
    info() {},
    error() {},
    warn(fields: unknown, text?: string) {
      const { code } = (fields ?? {}) as { code?: unknown };
      if (code) warnings.push({ code, text: text ?? '' });
    },
  } as Logger & { warnings: Array<{ code: unknown; text: string }> };
}

/** What the handler saw: how many times it ran, and the file names it read. */
interface Seen {
  runs: number;
  names: string[];
}

/** A handler reading the upload the way the mode's hosts do. */
function handler(mode: FastifyGuardMode, seen: Seen) {
  return async (req: FastifyRequest) => {
    seen.runs += 1;
    const host = req as FastifyRequest & {
      isMultipart?(): boolean;
      saveRequestFiles(): Promise<{ files: Array<{ filename: string }> }>;
    };
    if (mode === 'scan' && host.isMultipart?.()) {
      seen.names.push(...(await host.saveRequestFiles()).files.map((f) => f.filename));
    } else if (Array.isArray(req.uploads?.files)) {
      seen.names.push(...req.uploads.files.map((f) => f.originalname));
    }
    return { ok: true };
  };
}

describe.each(['parse', 'scan'] as const)("a route the plugin did not see ('%s' mode)", (mode) => {
  async function app(
    wire: (app: FastifyInstance, options: object) => Promise<void>,
  ): Promise<{ app: FastifyInstance; logger: ReturnType<typeof warningLogger> }> {
    const app = Fastify();
    apps.push(app);
    const logger = warningLogger();
    if (mode === 'scan') await app.register(fastifyMultipart);
    await wire(app, { ...emulated.options({ logger }), mode });
    await app.ready();
    return { app, logger };
  }

  it.each([
    [
      'registered before the plugin',
      async (app: FastifyInstance, options: object, seen: Seen) => {
        app.post('/upload', handler(mode, seen));
        await app.register(photodnaGuard, options);
      },
    ],
    [
      'registered after a register() that was not awaited',
      async (app: FastifyInstance, options: object, seen: Seen) => {
        app.register(photodnaGuard, options);
        app.post('/upload', handler(mode, seen));
      },
    ],
    [
      'in a child context created before the plugin',
      async (app: FastifyInstance, options: object, seen: Seen) => {
        await app.register(async (child) => {
          child.post('/upload', handler(mode, seen));
        });
        await app.register(photodnaGuard, options);
      },
    ],
  ])(
    '%s: a known image is refused 503 (not-configured, warned), never handed on',
    async (_name, wire) => {
      const seen: Seen = { runs: 0, names: [] };
      const { app: server, logger } = await app((a, options) => wire(a, options, seen));
      const reasons: unknown[] = [];
      server.photodna.on('error', (event) => reasons.push(event.reason));
      const res = await request(server.server).post('/upload').attach('photo', KNOWN, 'a.png');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
      expect(res.headers['retry-after']).toBeDefined();
      expect(seen).toEqual({ runs: 0, names: [] });
      expect(reasons).toEqual(['not-configured']);
      await until(() => logger.warnings.length > 0, 'the setup warning');
      expect(logger.warnings).toEqual([
        { code: 'PHOTODNA_GUARD_NOT_CONFIGURED', text: expect.stringContaining('/upload') },
      ]);
      expect(logger.warnings[0]?.text).toContain('await app.register(photodnaGuard');
      // A request that is not multipart, and a multipart one to no route, are none of its business.
      const json = await request(server.server).post('/upload').send({ a: 1 });
      expect(json.status).toBe(200);
      expect(seen.runs).toBe(1);
      const missing = await request(server.server).post('/nowhere').attach('photo', KNOWN, 'a.png');
      expect(missing.status).toBe(404);
    },
  );

  it('config.photodna: false before the plugin is still left unguarded, as asked', async () => {
    const seen: Seen = { runs: 0, names: [] };
    const guarded: Seen = { runs: 0, names: [] };
    const { app: server, logger } = await app(async (a, options) => {
      a.post('/open', { config: { photodna: false } }, async (req) => {
        seen.runs += 1;
        // 'parse' mode: the guard's content-type parser leaves the body unread for the handler.
        if (mode === 'scan')
          await (req as { saveRequestFiles(): Promise<unknown> }).saveRequestFiles();
        return { ok: true };
      });
      await a.register(photodnaGuard, options);
      a.post('/upload', handler(mode, guarded));
    });
    const open = await request(server.server).post('/open').attach('photo', KNOWN, 'a.png');
    expect(open.status).toBe(200);
    expect(seen.runs).toBe(1);
    // The route registered after the plugin is guarded as ever: the known image is blocked.
    const blocked = await request(server.server).post('/upload').attach('photo', KNOWN, 'a.png');
    expect(blocked.status).toBe(422);
    expect(guarded.runs).toBe(0);
    expect(logger.warnings).toEqual([]);
  });
});

describe("'scan' mode inside an encapsulated plugin, below @fastify/multipart", () => {
  it('warns at registration (PHOTODNA_GUARD_ENCAPSULATED): uploads outside the plugin are parsed, never checked', async () => {
    const app = Fastify();
    apps.push(app);
    const logger = warningLogger();
    await app.register(fastifyMultipart);
    await app.register(async (api) => {
      await api.register(photodnaGuard, { ...emulated.options({ logger }), mode: 'scan' });
    });
    await app.ready();
    expect(logger.warnings).toEqual([
      {
        code: 'PHOTODNA_GUARD_ENCAPSULATED',
        text: expect.stringContaining('Register photodnaGuard at the root'),
      },
    ]);
  });

  it.each([
    ['at the root', 'root'],
    ['in a plugin wrapped as fastify-plugin wraps one (skip-override)', 'skip'],
    ['in the same plugin as @fastify/multipart', 'same'],
  ] as const)('no warning %s (every upload route meets the guard)', async (_name, where) => {
    const app = Fastify();
    apps.push(app);
    const logger = warningLogger();
    const options = { ...emulated.options({ logger }), mode: 'scan' as const };
    if (where === 'root') {
      await app.register(fastifyMultipart);
      await app.register(photodnaGuard, options);
    } else if (where === 'skip') {
      await app.register(fastifyMultipart);
      const shared = async (api: FastifyInstance) => {
        await api.register(photodnaGuard, options);
      };
      Object.assign(shared, { [Symbol.for('skip-override')]: true });
      await app.register(shared);
    } else {
      await app.register(async (api) => {
        await api.register(fastifyMultipart);
        await api.register(photodnaGuard, options);
      });
    }
    await app.ready();
    expect(logger.warnings).toEqual([]);
  });
});
