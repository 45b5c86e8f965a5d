/**
 * The live panel's script when the server ends its stream and the reconnect is refused (the
 * browser then closes the EventSource for good): it asks a real console for the session and
 * reloads the page when signed out (the login form) or signed in anew (a fresh CSRF token), and
 * otherwise says the stream stopped, without a reload loop. live.js runs in a `vm` context with
 * a minimal DOM and EventSource (no browser here; test/console/browser.test.ts has one).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { LIVE_SCRIPT } from '../../src/console/assets/live-script.js';
import { createConsole } from '../../src/console/index.js';
import { GuardEvents } from '../../src/events.js';
import { until } from '../helpers/until.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { seededStore, TOKEN } from './helpers.js';

const tempDir = useTempDirs();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static last: FakeEventSource | undefined;
  readyState = FakeEventSource.OPEN;
  readonly listeners = new Map<string, ((event: object) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.last = this;
  }
  addEventListener(name: string, listener: (event: object) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
  }
  fail(readyState: number) {
    this.readyState = readyState;
    // As a browser does: a plain Event, without `data` (the feed's own `error` events have it).
    for (const listener of this.listeners.get('error') ?? []) listener({ type: 'error' });
  }
}

/** live.js on a page whose cookie is `cookie`, started as app.js starts it. */
function runLiveScript(origin: string, cookie: string, csrf: string) {
  const elements = new Map<string, { hidden: boolean }>();
  const element = (id: string) => {
    if (!elements.has(id)) elements.set(id, { hidden: true });
    return elements.get(id);
  };
  let ready: ((event: unknown) => void) | undefined;
  const page = {
    reloads: 0,
    probes: 0,
    hidden: (id: string) => element(id)?.hidden,
  };
  runInNewContext(LIVE_SCRIPT, {
    document: {
      getElementById: element,
      addEventListener: (name: string, listener: (event: unknown) => void) => {
        if (name === 'console:ready') ready = listener;
      },
    },
    EventSource: FakeEventSource,
    location: {
      reload: () => {
        page.reloads++;
      },
    },
    // The page's own fetch: relative to the console, with its cookie.
    fetch: (path: string, init: RequestInit) => {
      page.probes++;
      return fetch(new URL(path, `${origin}/`), {
        ...init,
        headers: { ...(init.headers as Record<string, string>), Cookie: cookie },
      });
    },
  });
  ready?.({ detail: { live: true, csrf } });
  return page;
}

async function consoleWithSession() {
  const { store } = await seededStore(await tempDir());
  const reviewConsole = createConsole({ store, token: TOKEN, events: new GuardEvents() });
  cleanups.push(() => reviewConsole.close());
  const server = createServer((req, res) => void reviewConsole.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const login = await fetch(`${origin}/api/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: TOKEN }),
  });
  const cookie = String(login.headers.get('set-cookie')).split(';')[0] as string;
  const { csrf } = (await login.json()) as { csrf: string };
  return { origin, cookie, csrf };
}

describe('live.js when the stream is refused', () => {
  it('reloads into the login form once the session is gone', async () => {
    const { origin, cookie, csrf } = await consoleWithSession();
    const page = runLiveScript(origin, cookie, csrf);
    expect(FakeEventSource.last?.url).toBe('api/live');
    FakeEventSource.last?.fail(FakeEventSource.CONNECTING); // the browser reconnects by itself
    expect(page.probes).toBe(0);

    await fetch(`${origin}/api/logout`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: cookie, 'X-CSRF-Token': csrf },
      body: '{}',
    });
    FakeEventSource.last?.fail(FakeEventSource.CLOSED);
    await until(() => page.reloads === 1, 'the reload');
    expect(page.hidden('live-ended')).toBe(true);
  });

  it('reloads for a new session (fresh CSRF token); says the stream stopped when the session is unchanged', async () => {
    const { origin, cookie, csrf } = await consoleWithSession();
    const renewed = runLiveScript(origin, cookie, 'the csrf of an older session');
    FakeEventSource.last?.fail(FakeEventSource.CLOSED);
    await until(() => renewed.reloads === 1, 'the reload');

    const same = runLiveScript(origin, cookie, csrf);
    FakeEventSource.last?.fail(FakeEventSource.CLOSED);
    await until(() => same.hidden('live-ended') === false, 'the note that the stream stopped');
    expect(same.reloads).toBe(0);
  });
});
