/**
 * The token login's failure budget through real servers (a bare Node server, Express, Koa): a
 * flood of wrong tokens locks its own client (an IPv4 address, an IPv6 /64) and no one else;
 * X-Forwarded-For counts only where the framework trusts the proxy; past the ceiling for all
 * clients together only familiar clients still log in.
 */
import { createServer, request as httpRequest, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { TOKEN } from './helpers.js';

const tempDir = useTempDirs();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

type Mount = (console: Console) => RequestListener;

const MOUNTS = {
  'a bare Node server': (c) => (req, res) => void c.handle(req, res, '/console'),
  'Express without trust proxy': (c) => express().use('/console', c.express()),
  'Express trusting a loopback proxy': (c) =>
    express().set('trust proxy', 'loopback').use('/console', c.express()),
  'Koa with app.proxy': (c) => new Koa({ proxy: true }).use(c.koa('/console')).callback(),
} satisfies Record<string, Mount>;

/** A console with the token login behind `mount`, listening on 127.0.0.1; answers its port. */
async function serve(mount: Mount): Promise<number> {
  const console = createConsole({ dir: await tempDir(), token: TOKEN });
  const server = createServer(mount(console));
  cleanups.push(async () => {
    await new Promise((resolve) => server.close(resolve));
    await console.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface Answer {
  status: number;
  retryAfter: string | undefined;
}

/**
 * One login on its own connection: from the socket address `from` (any 127.x.y.z on Linux's
 * loopback), saying `X-Forwarded-For: forwardedFor` when given.
 */
function login(
  port: number,
  token: string,
  { from = '127.0.0.1', forwardedFor }: { from?: string; forwardedFor?: string } = {},
): Promise<Answer> {
  const body = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent: false,
        host: '127.0.0.1',
        port,
        localAddress: from,
        method: 'POST',
        path: '/console/api/login',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
        },
      },
      (res) => {
        res.resume();
        const retryAfter = res.headers['retry-after'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const wrong = (i: number) => `wrong-guess-${i}-xxxxxxxxxxxx`;

/** A 429 telling the client to wait at most the minute. */
function expectLocked(answer: Answer): void {
  expect(answer.status).toBe(429);
  expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(answer.retryAfter)).toBeLessThanOrEqual(60);
}

describe('token login throttle: one client cannot lock the moderators out', () => {
  it.each(['a bare Node server', 'Express without trust proxy'] as const)(
    '%s: a flood from one address locks that address, whatever X-Forwarded-For it writes; a moderator at another logs in',
    async (name) => {
      const port = await serve(MOUNTS[name]);
      const attacker = { from: '127.0.0.2' };
      for (let i = 0; i < 10; i++) {
        // A new forwarded address every time: not trusted, so still one client.
        const answer = await login(port, wrong(i), {
          ...attacker,
          forwardedFor: `198.51.100.${i}`,
        });
        expect(answer.status).toBe(401);
      }
      expectLocked(await login(port, wrong(10), { ...attacker, forwardedFor: '198.51.100.99' }));
      expectLocked(await login(port, TOKEN, attacker)); // unread: too late this minute
      expect((await login(port, TOKEN, { from: '127.0.0.3' })).status).toBe(200);
      expect((await login(port, wrong(11), { from: '127.0.0.4' })).status).toBe(401);
    },
  );

  it.each(['Express trusting a loopback proxy', 'Koa with app.proxy'] as const)(
    '%s: behind a proxy the framework trusts, the budget is the forwarded client’s',
    async (name) => {
      const port = await serve(MOUNTS[name]);
      for (let i = 0; i < 10; i++) {
        expect((await login(port, wrong(i), { forwardedFor: '203.0.113.7' })).status).toBe(401);
      }
      expectLocked(await login(port, wrong(10), { forwardedFor: '203.0.113.7' }));
      expectLocked(await login(port, TOKEN, { forwardedFor: '203.0.113.7' }));
      // The same proxy's socket, another client behind it.
      expect((await login(port, TOKEN, { forwardedFor: '198.51.100.2' })).status).toBe(200);
    },
  );

  it('counts an IPv6 /64 as one client, and an IPv4-mapped address as its IPv4 one', async () => {
    const port = await serve(MOUNTS['Express trusting a loopback proxy']);
    const sameBlock = [
      '2001:db8:1:2::1',
      '2001:db8:1:2::2',
      '2001:db8:1:2:1:2:3:4',
      '2001:DB8:1:2:ffff:ffff:ffff:fffe',
      '2001:0db8:0001:0002:0000:0000:0000:0005',
      '2001:db8:1:2:a::',
      '2001:db8:1:2:b::1',
      '2001:db8:1:2:c::1',
      '2001:db8:1:2:d::1',
      '2001:db8:1:2::1:2.3.4.5',
    ];
    for (const [i, address] of sameBlock.entries()) {
      const answer = await login(port, wrong(i), { forwardedFor: address });
      expect(answer.status, address).toBe(401);
    }
    expectLocked(
      await login(port, wrong(10), { forwardedFor: '2001:db8:1:2:ffff:ffff:ffff:ffff' }),
    );
    expectLocked(await login(port, TOKEN, { forwardedFor: '2001:db8:1:2::99' }));
    expect((await login(port, TOKEN, { forwardedFor: '2001:db8:1:3::1' })).status).toBe(200);

    for (let i = 0; i < 10; i++) {
      const address = i % 2 === 0 ? '192.0.2.44' : '::ffff:192.0.2.44';
      expect((await login(port, wrong(i), { forwardedFor: address })).status, address).toBe(401);
    }
    expectLocked(await login(port, TOKEN, { forwardedFor: '::ffff:c000:22c' }));
    expectLocked(await login(port, TOKEN, { forwardedFor: '192.0.2.44' }));
  });

  it('past 100 failures a minute from all clients, only clients that logged in before get in', async () => {
    const port = await serve(MOUNTS['Express trusting a loopback proxy']);
    const moderator = { forwardedFor: '192.0.2.10' };
    expect((await login(port, TOKEN, moderator)).status).toBe(200);
    // Ten addresses, each within its own budget: 100 failures in all.
    for (let client = 1; client <= 10; client++) {
      for (let i = 0; i < 10; i++) {
        const answer = await login(port, wrong(i), { forwardedFor: `198.18.0.${client}` });
        expect(answer.status, `client ${client}, try ${i}`).toBe(401);
      }
    }
    // The ceiling: an eleventh address is refused unread, the right token too.
    expectLocked(await login(port, wrong(0), { forwardedFor: '198.18.0.11' }));
    expectLocked(await login(port, TOKEN, { forwardedFor: '198.18.0.12' }));
    expectLocked(await login(port, TOKEN, { forwardedFor: '2001:db8:9::1' }));
    // A moderator where the token was given before is held to that address's budget only.
    expect((await login(port, TOKEN, moderator)).status).toBe(200);
    expect((await login(port, wrong(0), moderator)).status).toBe(401);
    expect((await login(port, TOKEN, moderator)).status).toBe(200);
  });
});
