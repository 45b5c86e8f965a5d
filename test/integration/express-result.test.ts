import { createHash } from 'node:crypto';
import { createServer, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type GuardOptions, photodnaGuard } from '../../src/index.js';
import type { PhotoDnaResult } from '../../src/types.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

// `req.photodna` on Express is read through an accessor on Express's base request object
// (src/adapters/express-result.ts): these are the ways a request can reach a handler.

expectNoTempFiles();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function guardWith(options: GuardOptions = {}) {
  const guard = photodnaGuard({ matcher: new RecordingMatcher(), ...options });
  closers.push(() => guard.close());
  return guard;
}

/** Answers what the handler read on `req.photodna`, and whether the request holds it itself. */
const result: express5.RequestHandler = (req, res) => {
  res.json({ photodna: req.photodna ?? null, own: Object.hasOwn(req, 'photodna') });
};

const known = png(300, 200, 7);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A guard under 'flag' whose matcher knows `known`: a match reaches the handler. */
const flaggingGuard = () =>
  guardWith({ matcher: new RecordingMatcher([sha256(known)]), policy: 'flag' });

for (const [name, express] of [
  ['express5', express5],
  ['express4', express4 as unknown as typeof express5],
] as const) {
  describe(`req.photodna on ${name}`, () => {
    it('a route in a mounted app reads the result of a guard in front of it', async () => {
      const app = express();
      const sub = express();
      sub.post('/upload', result);
      app.use(guardWith());
      app.use('/sub', sub);
      const res = await request(app).post('/sub/upload').attach('f', png(), 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('clean');
      expect(res.body.photodna.files).toHaveLength(1);
      expect(res.body.own).toBe(false); // read through the accessor: nothing added to the request
    });

    it('a guard inside a mounted app: the routes after that app read its result', async () => {
      const app = express();
      const sub = express();
      sub.use(guardWith());
      app.use(sub);
      app.post('/upload', result);
      const res = await request(app).post('/upload').attach('f', png(), 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('clean');
      expect(res.body.photodna.files).toHaveLength(1);
    });

    it('a value put on req.photodna before the guard never stands for its result', async () => {
      const guard = flaggingGuard();
      const app = express();
      app.use((req, _res, next) => {
        req.photodna = { status: 'clean', files: [] };
        next();
      });
      app.post('/upload', guard.single('f'), result);
      const res = await request(app).post('/upload').attach('f', known, 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('match');
      expect(res.body.photodna.files[0].isMatch).toBe(true);
    });

    it("a photodna the host put on app.request never hides the guard's result", async () => {
      const guard = flaggingGuard();
      const app = express();
      (app.request as { photodna?: unknown }).photodna = undefined; // e.g. a typed default
      app.post('/upload', guard.single('f'), result);
      const res = await request(app).post('/upload').attach('f', known, 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('match');
      // Defined after the accessor was installed, and answering something else: still shadowed.
      Object.defineProperty(app.request, 'photodna', {
        configurable: true,
        get: () => ({ status: 'clean', files: [] }),
        set() {},
      });
      const again = await request(app).post('/upload').attach('f', known, 'a.png');
      expect(again.body.photodna.status).toBe('match');
    });

    it('a read-only req.photodna put on the request before the guard is an error for next()', async () => {
      const app = express();
      app.use((req, _res, next) => {
        Object.defineProperty(req, 'photodna', { value: undefined, enumerable: true });
        next();
      });
      app.post('/upload', guardWith().single('f'), result);
      app.use(((error, _req, res, _next) => {
        res.status(500).json({ error: String(error) });
      }) as express5.ErrorRequestHandler);
      const res = await request(app).post('/upload').attach('f', png(), 'a.png');
      expect(res.status).toBe(500);
      expect(res.body.error).toMatch(/photodna/);
    });

    it('the host may replace req.photodna after the guard', async () => {
      const app = express();
      app.post(
        '/upload',
        guardWith().single('f'),
        (req, _res, next) => {
          req.photodna = { ...(req.photodna as PhotoDnaResult), status: 'unchecked' };
          next();
        },
        result,
      );
      const res = await request(app).post('/upload').attach('f', png(), 'a.png');
      expect(res.status).toBe(200);
      expect(res.body.photodna.status).toBe('unchecked');
      expect(res.body.photodna.files).toHaveLength(1);
    });

    it('concurrent requests each read their own result', async () => {
      const guard = flaggingGuard();
      const app = express();
      app.post('/upload', guard.any(), result);
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          request(app)
            .post('/upload')
            .attach('f', i % 2 === 0 ? known : png(200, 200, i), 'a.png'),
        ),
      );
      expect(answers.map((res) => res.body.photodna.status)).toEqual(
        answers.map((_, i) => (i % 2 === 0 ? 'match' : 'clean')),
      );
    });
  });
}

describe('req.photodna without Express', () => {
  it('a plain Node server gets the result on the request itself', async () => {
    const guard = guardWith();
    const server = createServer((req, res) => {
      guard(req, res, (error) => {
        const own = Object.getOwnPropertyDescriptor(req, 'photodna');
        res.end(JSON.stringify({ error: error ? String(error) : null, own: own?.value ?? null }));
      });
    });
    server.listen(0, '127.0.0.1');
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const res = await request(`http://127.0.0.1:${port}`).post('/').attach('f', png(), 'a.png');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as { error: null; own: PhotoDnaResult };
    expect(body.error).toBeNull();
    expect(body.own.status).toBe('clean');
    expect(body.own.files).toHaveLength(1);
    // Node's own request prototype is never changed.
    expect(Object.hasOwn(IncomingMessage.prototype, 'photodna')).toBe(false);
  });
});
