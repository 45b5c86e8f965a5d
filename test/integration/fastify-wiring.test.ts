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
import { png } from '../fixtures/images.js';
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
  it('warns at registration (PHOTODNA_GUARD_ENCAPSULATED): routes outside the plugin are not guarded', async () => {
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

/**
 * The guard registered inside an encapsulated plugin reaches only that plugin's routes; a route in
 * another context (a sibling plugin, the root, a cousin) that parses multipart form data with its
 * own @fastify/multipart never meets the guard's hooks. Such a request is refused 503
 * SCAN_UNAVAILABLE (`not-configured`, warned naming the route) instead of handing the upload on
 * unchecked; a route given `config.photodna: false` stays open, and a context with no multipart
 * parser keeps Fastify's own 415.
 */
describe.each(['parse', 'scan'] as const)(
  "a route outside the guard's context with its own @fastify/multipart (guard in '%s' mode)",
  (mode) => {
    type Wire = (
      app: FastifyInstance,
      guarded: (api: FastifyInstance) => Promise<void>,
    ) => Promise<void>;
    /** The route `/up` in a plugin of its own, with @fastify/multipart. */
    const sibling =
      (seen: Seen, config: object = {}) =>
      async (child: FastifyInstance) => {
        await child.register(fastifyMultipart);
        child.post('/up', { config }, handler('scan', seen));
      };

    async function start(wire: Wire) {
      const app = Fastify();
      apps.push(app);
      const logger = warningLogger();
      const guardedSeen: Seen = { runs: 0, names: [] };
      const reasons: unknown[] = [];
      // `on`, not `app.photodna`: the guard decorates only its own plugin's context.
      const on = { error: (event: { reason?: unknown }) => reasons.push(event.reason) };
      const options = { ...emulated.options({ logger, on }), mode };
      // The guard's own plugin: its routes are guarded as ever.
      const guarded = async (api: FastifyInstance) => {
        if (mode === 'scan') await api.register(fastifyMultipart);
        await api.register(photodnaGuard, options);
        api.post('/guarded', handler(mode, guardedSeen));
      };
      await wire(app, guarded);
      await app.ready();
      return { app, logger, guardedSeen, reasons };
    }

    const layouts: Array<[string, (seen: Seen) => Wire]> = [
      [
        'the guard in a plugin, the route in a sibling plugin registered after it',
        (seen) => async (app, guarded) => {
          await app.register(guarded);
          await app.register(sibling(seen));
        },
      ],
      [
        'the guard in a plugin, the route in a sibling plugin registered before it',
        (seen) => async (app, guarded) => {
          await app.register(sibling(seen));
          await app.register(guarded);
        },
      ],
      [
        'the guard in a fastify-plugin-wrapped plugin inside a plugin, the route in a cousin',
        (seen) => async (app, guarded) => {
          Object.assign(guarded, { [Symbol.for('skip-override')]: true });
          await app.register(async (api) => {
            await api.register(guarded);
          });
          await app.register(async (other) => {
            await other.register(sibling(seen));
          });
        },
      ],
    ];

    it.each(layouts)(
      '%s: a known image is refused 503 (not-configured, warned naming the route), never handed on',
      async (_name, layout) => {
        const seen: Seen = { runs: 0, names: [] };
        const { app, logger, guardedSeen, reasons } = await start(layout(seen));
        const res = await request(app.server).post('/up').attach('photo', KNOWN, 'a.png');
        expect({ status: res.status, code: res.body.error?.code }).toEqual({
          status: 503,
          code: 'SCAN_UNAVAILABLE',
        });
        expect(res.headers['retry-after']).toBeDefined();
        expect(seen).toEqual({ runs: 0, names: [] });
        await until(
          () => logger.warnings.some((w) => w.code === 'PHOTODNA_GUARD_NOT_CONFIGURED'),
          'the setup warning',
        );
        expect(logger.warnings).toEqual([
          { code: 'PHOTODNA_GUARD_NOT_CONFIGURED', text: expect.stringContaining('/up') },
        ]);
        expect(reasons).toEqual(['not-configured']);
        // Not multipart: none of the guard's business.
        const json = await request(app.server).post('/up').send({ a: 1 });
        expect(json.status).toBe(200);
        expect(seen.runs).toBe(1);
        // The guard's own routes are guarded as ever.
        const own = await request(app.server).post('/guarded').attach('photo', KNOWN, 'a.png');
        expect(own.status).toBe(422);
        expect(guardedSeen.runs).toBe(0);
      },
    );

    it('config.photodna: false on such a route leaves it open, as asked', async () => {
      const seen: Seen = { runs: 0, names: [] };
      const { app, logger } = await start(async (app, guarded) => {
        await app.register(guarded);
        await app.register(sibling(seen, { photodna: false }));
      });
      const res = await request(app.server).post('/up').attach('photo', KNOWN, 'a.png');
      expect(res.status).toBe(200);
      expect(seen).toEqual({ runs: 1, names: ['a.png'] });
      expect(logger.warnings).toEqual([]);
    });

    it("a context with no multipart parser keeps Fastify's own 415, unwarned", async () => {
      let runs = 0;
      const { app, logger } = await start(async (app, guarded) => {
        await app.register(guarded);
        await app.register(async (plain) => {
          plain.post('/json', async () => {
            runs += 1;
            return { ok: true };
          });
        });
      });
      const res = await request(app.server).post('/json').attach('photo', KNOWN, 'a.png');
      expect(res.status).toBe(415);
      expect(runs).toBe(0);
      expect(logger.warnings).toEqual([]);
    });
  },
);

describe("'scan' mode in a plugin below @fastify/multipart: the parent's routes", () => {
  it('a known image to a route of the parent context is refused 503 (not-configured), never handed on', async () => {
    const app = Fastify();
    apps.push(app);
    const logger = warningLogger();
    const seen: Seen = { runs: 0, names: [] };
    await app.register(fastifyMultipart);
    app.post('/up', handler('scan', seen));
    await app.register(async (api) => {
      await api.register(photodnaGuard, { ...emulated.options({ logger }), mode: 'scan' });
    });
    await app.ready();
    const res = await request(app.server).post('/up').attach('photo', KNOWN, 'a.png');
    expect({ status: res.status, code: res.body.error?.code }).toEqual({
      status: 503,
      code: 'SCAN_UNAVAILABLE',
    });
    expect(seen).toEqual({ runs: 0, names: [] });
    expect(logger.warnings).toEqual([
      { code: 'PHOTODNA_GUARD_ENCAPSULATED', text: expect.stringContaining('Register') },
      { code: 'PHOTODNA_GUARD_NOT_CONFIGURED', text: expect.stringContaining('/up') },
    ]);
  });
});

describe("'scan' mode at the root, @fastify/multipart in the routes' own plugin", () => {
  it('the routes of a plugin registered after the guard are guarded as ever (a known image 422), unwarned', async () => {
    const app = Fastify();
    apps.push(app);
    const logger = warningLogger();
    const seen: Seen = { runs: 0, names: [] };
    await app.register(photodnaGuard, { ...emulated.options({ logger }), mode: 'scan' });
    await app.register(async (child) => {
      await child.register(fastifyMultipart);
      child.post('/up', handler('scan', seen));
    });
    await app.ready();
    const res = await request(app.server).post('/up').attach('photo', KNOWN, 'a.png');
    expect(res.status).toBe(422);
    expect(seen.runs).toBe(0);
    expect(logger.warnings).toEqual([]);
  });
});

/**
 * A not-found handler the host set is a handler `onRoute` never sees: an SPA fallback, or a proxy
 * forwarding unmatched requests with `reply.from()`, reads the body as a route would. A multipart
 * request no route matched is guarded there with the plugin's options (Fastify's own not-found
 * answer reads no body, and stays a plain 404: see above).
 */
describe.each(['parse', 'scan'] as const)(
  "a not-found handler the host set ('%s' mode)",
  (mode) => {
    it('a known image to no route is refused before it; a clean one reaches it checked', async () => {
      const app = Fastify();
      apps.push(app);
      const seen: Seen & { raw: number } = { runs: 0, names: [], raw: 0 };
      if (mode === 'scan') await app.register(fastifyMultipart);
      await app.register(photodnaGuard, { ...emulated.options(), mode });
      const read = handler(mode, seen);
      app.setNotFoundHandler(async (req, reply) => {
        await read(req);
        // Unguarded, in 'parse' mode the body is still there for the handler to read.
        if (mode === 'parse' && !req.uploads) {
          for await (const chunk of req.raw) seen.raw += (chunk as Buffer).length;
        }
        return reply.code(404).send({ missing: true });
      });
      await app.ready();
      const known = await request(app.server).post('/nowhere').attach('photo', KNOWN, 'a.png');
      expect({ status: known.status, code: known.body.error?.code }).toEqual({
        status: 422,
        code: 'INVALID_IMAGE',
      });
      expect(seen).toEqual({ runs: 0, names: [], raw: 0 });
      const clean = await request(app.server)
        .post('/nowhere')
        .attach('photo', png(200, 200, 9), 'b.png');
      expect(clean.status).toBe(404);
      expect(seen).toEqual({ runs: 1, names: ['b.png'], raw: 0 });
    });

    it("set at the root, outside an encapsulated guard's context, with @fastify/multipart there: refused 503, never handed on", async () => {
      const app = Fastify();
      apps.push(app);
      const seen: Seen = { runs: 0, names: [] };
      await app.register(async (api) => {
        if (mode === 'scan') await api.register(fastifyMultipart);
        await api.register(photodnaGuard, { ...emulated.options(), mode });
        api.post('/guarded', handler(mode, { runs: 0, names: [] }));
      });
      // After the guard's plugin: its context (in 'parse' mode, the guard's own parser) is its own.
      await app.register(fastifyMultipart);
      const read = handler('scan', seen);
      app.setNotFoundHandler(async (req, reply) => {
        await read(req);
        return reply.code(404).send({ missing: true });
      });
      await app.ready();
      const res = await request(app.server).post('/nowhere').attach('photo', KNOWN, 'a.png');
      // Before: the not-found handler read the known image through @fastify/multipart (404).
      expect({ status: res.status, code: res.body.error?.code }).toEqual({
        status: 503,
        code: 'SCAN_UNAVAILABLE',
      });
      expect(seen).toEqual({ runs: 0, names: [] });
      // Fastify's own 404 elsewhere, and a GET to no route, are left alone.
      expect((await request(app.server).get('/nowhere')).status).toBe(404);
    });
  },
);
