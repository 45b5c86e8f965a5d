/**
 * Security regressions: the live stream (`api/live`) lasts no longer than the right to see it.
 * A logout ends every stream of that session at once, an idle session's expiry ends its
 * streams, and with the host's `authorize` the host is asked again (at most once per
 * RECHECK_MS) before more events are written: a refusal or a throw ends the stream. Each ended
 * stream ends cleanly, frees its viewer slot and leaves no listener behind; a reconnect is 401.
 * Real servers, real HTTP, the real console, and a real guard or the guard's own emitter.
 */
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { MAX_STREAMS_PER_SESSION } from '../../src/console/live-feed.js';
import { RECHECK_MS } from '../../src/console/live-stream.js';
import type { ConsoleEventSource } from '../../src/console/options.js';
import { GuardEvents } from '../../src/events.js';
import { photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { until } from '../helpers/until.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { seededStore, TOKEN } from './helpers.js';

const tempDir = useTempDirs();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const NAMES = ['scan', 'match', 'quarantine', 'reject', 'error'] as const;
/** Long enough for a 1 s tick and a busy machine, short enough that the old code fails fast. */
const SOON = 10_000;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** One request over real HTTP; the body as text. */
function call(
  host: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
) {
  const [hostname, port] = host.split(':');
  return new Promise<{ status: number; cookie: string; body: string }>((resolve, reject) => {
    const req = httpRequest(
      { hostname, port, method, path, headers: { Host: host, ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            cookie: String(res.headers['set-cookie']?.[0] ?? '').split(';')[0] as string,
            body: text,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function tokenLogin(host: string, base: string) {
  const res = await call(
    host,
    'POST',
    `${base}/api/login`,
    { 'Content-Type': 'application/json', Origin: `http://${host}` },
    JSON.stringify({ token: TOKEN }),
  );
  expect(res.status).toBe(200);
  return { cookie: res.cookie, csrf: JSON.parse(res.body).csrf as string };
}

function logout(host: string, base: string, auth: { cookie: string; csrf: string }) {
  return call(
    host,
    'POST',
    `${base}/api/logout`,
    {
      'Content-Type': 'application/json',
      Origin: `http://${host}`,
      Cookie: auth.cookie,
      'X-CSRF-Token': auth.csrf,
    },
    '{}',
  );
}

/** A live stream as a client sees it: what arrived, whether it ended cleanly, any error. */
class Stream {
  status = 0;
  text = '';
  ended = false;
  readonly errors: Error[] = [];

  constructor(host: string, path: string, headers: Record<string, string>) {
    const [hostname, port] = host.split(':');
    const req = httpRequest(
      { hostname, port, path, headers: { Host: host, ...headers } },
      (res) => {
        this.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.text += chunk;
        });
        res.on('end', () => {
          this.ended = true;
        });
        res.on('error', (error) => this.errors.push(error));
      },
    );
    req.on('error', (error) => this.errors.push(error));
    req.end();
    this.#req = req;
    cleanups.push(async () => req.destroy());
  }

  readonly #req: ReturnType<typeof httpRequest>;

  /** The viewer leaves (closes the connection, as a closed tab does). */
  close(): void {
    this.#req.destroy();
  }

  count(event: string): number {
    return this.text.split(`event: ${event}\n`).length - 1;
  }
}

/** A live stream once it said hello, or was refused (ended). */
async function answered(host: string, path: string, headers: Record<string, string>) {
  const stream = new Stream(host, path, headers);
  await until(() => stream.ended || stream.text.includes('event: hello\n'), 'the hello', SOON);
  return stream;
}

async function opened(host: string, path: string, headers: Record<string, string>) {
  const stream = await answered(host, path, headers);
  expect(stream.status).toBe(200);
  return stream;
}

/** The guard's on/off, counting the listeners the console holds on it. */
function counting(source: ConsoleEventSource) {
  const held = new Map<string, Set<unknown>>(NAMES.map((name) => [name, new Set()]));
  const events: ConsoleEventSource = {
    on(name, listener) {
      held.get(name)?.add(listener);
      return source.on(name, listener);
    },
    off(name, listener) {
      held.get(name)?.delete(listener);
      return source.off(name, listener);
    },
  };
  return { events, counts: () => NAMES.map((name) => held.get(name)?.size) };
}

async function consoleServer(options: Parameters<typeof createConsole>[0]) {
  const reviewConsole = createConsole(options);
  cleanups.push(() => reviewConsole.close());
  const host = await listen(createServer((req, res) => void reviewConsole.handle(req, res)));
  return { reviewConsole, host };
}

function reject(events: GuardEvents, route: string) {
  events.emit('reject', { code: 'FILE_TOO_LARGE', status: 413, route, method: 'POST', ip: '' });
}

describe('logout', () => {
  it("ends every live stream of the session at once; the guard's matches go only to other sessions", async () => {
    const dir = await tempDir();
    const bad = png(200, 200, 21);
    const guard = photodnaGuard({
      matcher: new RecordingMatcher([createHash('sha256').update(bad).digest('hex')]),
      policy: 'quarantine',
      quarantine: { dir },
    });
    cleanups.push(() => guard.close());
    const { events, counts } = counting(guard);
    const reviewConsole: Console = createConsole({ dir, token: TOKEN, events });
    cleanups.push(() => reviewConsole.close());
    const app = express();
    app.use('/console', reviewConsole.express());
    app.post('/upload', guard.single('image'), (_req, res) => {
      res.json({ ok: true });
    });
    const host = await listen(createServer(app));

    const leaving = await tokenLogin(host, '/console');
    const staying = await tokenLogin(host, '/console');
    const gone = [
      await opened(host, '/console/api/live', { Cookie: leaving.cookie }),
      await opened(host, '/console/api/live', { Cookie: leaving.cookie }),
    ];
    const kept = await opened(host, '/console/api/live', { Cookie: staying.cookie });
    expect(counts()).toEqual([1, 1, 1, 1, 1]);

    expect((await logout(host, '/console', leaving)).status).toBe(200);
    await until(() => gone.every((s) => s.ended), 'the logged-out streams to end', SOON);

    const form = new FormData();
    form.append('image', new Blob([bad], { type: 'image/png' }), 'x.png');
    const upload = await fetch(`http://${host}/upload`, { method: 'POST', body: form });
    expect(upload.status).toBe(422);
    await until(() => kept.count('quarantine') === 1, 'the quarantine on the other session', SOON);
    expect(kept.count('match')).toBe(1);
    for (const stream of gone) {
      expect(stream.count('match') + stream.count('quarantine')).toBe(0);
      expect(stream.errors).toEqual([]); // ended, not cut off
    }
    expect(kept.ended).toBe(false);
    // A reconnect with the old cookie is refused, and the feed still holds one listener each.
    expect((await call(host, 'GET', '/console/api/live', { Cookie: leaving.cookie })).status).toBe(
      401,
    );
    expect(counts()).toEqual([1, 1, 1, 1, 1]);

    await reviewConsole.close();
    await until(() => kept.ended, 'the last stream to end with the console', SOON);
    expect(kept.errors).toEqual([]);
    expect(counts()).toEqual([0, 0, 0, 0, 0]);
  });

  it("frees the streams' viewer slots (20 at most): new sessions get all of them", async () => {
    const { store } = await seededStore(await tempDir());
    const events = new GuardEvents();
    const { host } = await consoleServer({ store, token: TOKEN, events });
    /** 20 streams over 7 sessions (3 each at most, the last 2). */
    const fill = async () => {
      const sessions = [];
      const streams: Stream[] = [];
      for (let i = 0; i < 7; i++) {
        const auth = await tokenLogin(host, '');
        sessions.push(auth);
        for (let j = 0; j < MAX_STREAMS_PER_SESSION && streams.length < 20; j++)
          streams.push(await opened(host, '/api/live', { Cookie: auth.cookie }));
      }
      return { sessions, streams };
    };
    const first = await fill();
    expect(first.streams).toHaveLength(20);
    const late = await tokenLogin(host, '');
    const full = await call(host, 'GET', '/api/live', { Cookie: late.cookie });
    expect(full.status).toBe(503);
    expect(JSON.parse(full.body)).toEqual({ error: 'too many live viewers' });

    for (const auth of first.sessions) expect((await logout(host, '', auth)).status).toBe(200);
    await until(() => first.streams.every((s) => s.ended), 'the 20 streams to end', SOON);
    expect(first.streams.flatMap((s) => s.errors)).toEqual([]);
    expect((await fill()).streams).toHaveLength(20);
    for (const name of NAMES) expect(events.listenerCount(name)).toBe(1);
  });

  it(`lets one session hold ${MAX_STREAMS_PER_SESSION} streams at most: the next is refused 429, other sessions still get theirs, a closed one frees its place`, async () => {
    const { store } = await seededStore(await tempDir());
    const events = new GuardEvents();
    const { host } = await consoleServer({ store, token: TOKEN, events });
    const greedy = await tokenLogin(host, '');
    const held: Stream[] = [];
    for (let i = 0; i < MAX_STREAMS_PER_SESSION; i++)
      held.push(await opened(host, '/api/live', { Cookie: greedy.cookie }));
    const refused = await answered(host, '/api/live', { Cookie: greedy.cookie });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text).error).toMatch(
      new RegExp(`already has ${MAX_STREAMS_PER_SESSION} live streams open`),
    );
    // The refused one is not the oldest closed: the streams the session holds keep going.
    reject(events, '/after-refusal');
    await until(
      () => held.every((s) => s.text.includes('/after-refusal')),
      'the held streams to go on',
      SOON,
    );
    expect(held.some((s) => s.ended)).toBe(false);

    // Another moderator's session is not crowded out.
    const other = await tokenLogin(host, '');
    await opened(host, '/api/live', { Cookie: other.cookie });

    // A stream whose viewer left frees its place for the same session.
    held[0]?.close();
    await until(
      async () => (await answered(host, '/api/live', { Cookie: greedy.cookie })).status === 200,
      'the closed stream to free its place',
      SOON,
    );
  });
});

describe('session expiry', () => {
  it('ends the stream of an idle session within about a second; while the session is in use it stays', async () => {
    const { store } = await seededStore(await tempDir());
    const events = new GuardEvents();
    const { host } = await consoleServer({ store, token: TOKEN, events, sessionTtlMs: 2_000 });
    const auth = await tokenLogin(host, '');
    const stream = await opened(host, '/api/live', { Cookie: auth.cookie });

    // Used all along, the session outlives its idle time: four samples take over 3 s.
    await until(
      async () => {
        expect((await call(host, 'GET', '/api/incidents', { Cookie: auth.cookie })).status).toBe(
          200,
        );
        return stream.count('sample') >= 4;
      },
      'four samples while the session is in use',
      SOON,
    );
    expect(stream.ended).toBe(false);

    // Left alone, it expires: the stream ends (it never extended the session itself).
    const lastUse = Date.now(); // the last request extends the session from a moment later
    await call(host, 'GET', '/api/incidents', { Cookie: auth.cookie });
    await until(() => stream.ended, 'the stream of the expired session to end', SOON);
    expect(stream.errors).toEqual([]);
    expect(Date.now() - lastUse).toBeGreaterThanOrEqual(2_000);
    reject(events, '/after-expiry');
    expect((await call(host, 'GET', '/api/live', { Cookie: auth.cookie })).status).toBe(401);
    expect(stream.text).not.toContain('/after-expiry');
    for (const name of NAMES) expect(events.listenerCount(name)).toBe(1);
  });
});

describe('session maximum age', () => {
  it('ends a session in constant use at its maximum age: 401 as for an idle one, its stream ended', async () => {
    const { store } = await seededStore(await tempDir());
    const events = new GuardEvents();
    const maxAge = 1_500;
    const { host } = await consoleServer({ store, token: TOKEN, events, sessionMaxAgeMs: maxAge });
    const loggedIn = Date.now();
    const auth = await tokenLogin(host, '');
    const stream = await opened(host, '/api/live', { Cookie: auth.cookie });

    // Used every few milliseconds, far inside the idle time (8 hours): it still ends.
    let refused: { status: number; body: string } | undefined;
    await until(
      async () => {
        const res = await call(host, 'GET', '/api/incidents', { Cookie: auth.cookie });
        if (res.status === 401) refused = res;
        else expect(res.status).toBe(200);
        return refused !== undefined;
      },
      'the session to reach its maximum age',
      SOON,
    );
    expect(Date.now() - loggedIn).toBeGreaterThanOrEqual(maxAge);
    expect(JSON.parse(refused?.body ?? '{}')).toEqual({ error: 'log in with the console token' });
    // The page's own check answers 401 with the login to offer: it shows the token form again.
    const session = await call(host, 'GET', '/api/session', { Cookie: auth.cookie });
    expect(session.status).toBe(401);
    expect(JSON.parse(session.body)).toMatchObject({ login: 'token' });
    await until(() => stream.ended, 'the stream of the ended session to end', SOON);
    expect(stream.errors).toEqual([]);
    expect((await call(host, 'GET', '/api/live', { Cookie: auth.cookie })).status).toBe(401);
  });

  it('is validated like the other options; a new login starts a new lifetime', async () => {
    const { store } = await seededStore(await tempDir());
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '60000' as unknown as number])
      expect(() => createConsole({ store, token: TOKEN, sessionMaxAgeMs: bad })).toThrow(
        /'sessionMaxAgeMs' must be a positive number of milliseconds/,
      );
    const { host } = await consoleServer({ store, token: TOKEN, sessionMaxAgeMs: 1_000 });
    const first = await tokenLogin(host, '');
    await until(
      async () =>
        (await call(host, 'GET', '/api/incidents', { Cookie: first.cookie })).status === 401,
      'the first session to end',
      SOON,
    );
    const second = await tokenLogin(host, '');
    expect((await call(host, 'GET', '/api/incidents', { Cookie: second.cookie })).status).toBe(200);
  });
});

describe('with authorize', () => {
  it(`asks the host again before writing (once per ${RECHECK_MS} ms at most), holds events meanwhile, and ends the stream on a refusal or a throw`, async () => {
    const { store } = await seededStore(await tempDir());
    const events = new GuardEvents();
    type Answer = string | false | Promise<string | false>;
    const answers = new Map<string, () => Answer>([
      ['alice', () => 'alice'],
      ['bob', () => 'bob'],
    ]);
    const asked = { alice: [] as number[], bob: [] as number[] };
    const { host } = await consoleServer({
      store,
      events,
      authorize: (req) => {
        const user = String(req.headers['x-user']);
        if (user === 'alice' || user === 'bob') asked[user].push(Date.now());
        const answer = answers.get(user);
        return answer ? answer() : false;
      },
    });
    const streamOf = async (user: string) => {
      const session = await call(host, 'GET', '/api/session', { 'X-User': user });
      expect(session.status).toBe(200);
      return opened(host, '/api/live', { 'X-User': user, Cookie: session.cookie });
    };
    const alice = await streamOf('alice');
    const bob = await streamOf('bob');
    const opening = { alice: asked.alice.length, bob: asked.bob.length }; // session, live

    // Bob's login now throws: his stream ends at its next check.
    answers.set('bob', () => {
      throw new Error('host login down');
    });
    // Alice's next check hangs until answered: what arrives meanwhile waits for the answer.
    let answer: (value: string | false) => void = () => {};
    answers.set(
      'alice',
      () =>
        new Promise((resolve) => {
          answer = resolve;
        }),
    );
    await until(() => asked.alice.length > opening.alice, "alice's stream to ask again", SOON);
    reject(events, '/held-1');
    answer('alice');
    await until(() => alice.text.includes('/held-1'), 'the held event, once allowed', SOON);
    await until(() => bob.ended, "bob's stream to end", SOON);

    // Asked again after RECHECK_MS, alice is refused: the held event is dropped, the stream ends.
    await until(() => asked.alice.length > opening.alice + 1, "alice's next check", SOON);
    reject(events, '/held-2');
    answer(false);
    await until(() => alice.ended, "alice's stream to end", SOON);
    reject(events, '/after-refusal');
    expect(alice.text).not.toMatch(/held-2|after-refusal/);
    for (const stream of [alice, bob]) expect(stream.errors).toEqual([]);

    // One check per stream at most every RECHECK_MS (the opening request's counts as the first).
    const checks = asked.alice.slice(opening.alice - 1);
    expect(checks).toHaveLength(3);
    for (let i = 1; i < checks.length; i++) {
      expect((checks[i] as number) - (checks[i - 1] as number)).toBeGreaterThanOrEqual(
        RECHECK_MS - 50,
      );
    }
    expect(asked.bob).toHaveLength(opening.bob + 1);
    for (const name of NAMES) expect(events.listenerCount(name)).toBe(1);
  });
});

describe('a viewer that stops reading', () => {
  it('has its stream cut off once a megabyte waits for it, instead of the server keeping every event', async () => {
    const events = new GuardEvents(undefined);
    const { host } = await consoleServer({ dir: await tempDir(), token: TOKEN, events });
    const auth = await tokenLogin(host, '');
    const [hostname, port] = host.split(':');
    // A raw client that reads up to the stream's hello, then nothing until told to.
    const socket = connect(Number(port), hostname);
    cleanups.push(async () => socket.destroy());
    let head = '';
    const untilHello = (chunk: Buffer) => {
      head += chunk.toString('latin1');
    };
    socket.on('data', untilHello);
    socket.write(`GET /api/live HTTP/1.1\r\nHost: ${host}\r\nCookie: ${auth.cookie}\r\n\r\n`);
    await until(() => head.includes('event: hello\n'), 'the hello', SOON);
    socket.off('data', untilHello);
    socket.pause();
    // Far more than the kernel's socket buffers hold: the rest waits in the server's memory.
    for (let i = 0; i < 60_000; i++) reject(events, `/upload/${i}`);
    let received = 0;
    let closed = false;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    socket.resume();
    // Cut off by the server (what waited for the viewer dropped), not left open.
    await until(() => closed, 'the stream to be cut off', SOON);
    // It ended well before all of them (about 9 MB) reached the client.
    expect(received).toBeLessThan(8 * 1024 * 1024);
  });
});
