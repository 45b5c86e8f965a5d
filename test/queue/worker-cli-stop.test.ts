import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../cluster/redis-server.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { until } from '../helpers/until.js';
import { spawnWorkerCli } from './worker-processes.js';

/** A loopback port with nothing listening on it (bound, read, released). */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `photodna-guard worker` on `redis`; PhotoDNA at a port where nothing answers (no job runs). */
const workerCli = (redis: string) =>
  spawnWorkerCli(['--redis', redis, '--api-key', 'k', '--base-url', 'http://127.0.0.1:9']);

/**
 * `photodna-guard worker` with its Redis unreachable says so (an `error` line, stage `queue`), never
 * says `ready` (jobs cannot run), and still stops: the first SIGTERM starts a clean close (which cannot finish: BullMQ waits for the
 * connection), a second one ends it with exit code 1. Nothing it prints holds the password.
 */
it('photodna-guard worker with Redis unreachable reports it, is not ready, and stops on a second SIGTERM', async () => {
  const url = `redis://:secret-redis-pw@127.0.0.1:${await closedPort()}`;
  const cli = workerCli(url);
  const { child, exited } = cli;
  // Said, not silent: jobs cannot run.
  await until(() => cli.output().includes('"stage":"queue"'), 'the unreachable Redis reported');
  const reported = cli
    .output()
    .split('\n')
    .find((line) => line.includes('"stage":"queue"')) as string;
  expect(JSON.parse(reported)).toMatchObject({ event: 'error', stage: 'queue', reason: 'network' });
  child.kill('SIGTERM');
  await until(() => cli.output().includes('"event":"stopping"'), 'the worker to start stopping');
  expect(cli.output()).not.toContain('"event":"ready"');
  child.kill('SIGTERM');
  expect(await exited).toBe(1);
  expect(cli.errors()).toContain('not closed cleanly');
  expect(`${cli.output()}${cli.errors()}`).not.toContain('secret-redis-pw');
}, 60_000);

describeWithRedis('photodna-guard worker and a Redis that comes up late or refuses it', () => {
  let redis: RedisServer | undefined;

  it('says ready once its Redis answers, and stops cleanly on SIGTERM', async () => {
    const port = await closedPort();
    const cli = workerCli(`redis://127.0.0.1:${port}`);
    try {
      await until(() => cli.output().includes('"stage":"queue"'), 'the unreachable Redis reported');
      expect(cli.output()).not.toContain('"event":"ready"');
      redis = await startRedisServer({ port });
      await until(() => cli.output().includes('"event":"ready"'), 'the worker to be ready');
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
      await redis?.close();
    }
  }, 60_000);

  it('reports a Redis that refuses its requests, asks again, and says ready once it may', async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    // A user that may not run scripts: BullMQ's requests are refused (NOPERM).
    await admin.call('ACL', 'SETUSER', 'worker', 'on', '>w-secret-pw', '~*', '&*', '+@all');
    await admin.call('ACL', 'SETUSER', 'worker', '-evalsha', '-eval');
    const cli = workerCli(`redis://worker:w-secret-pw@127.0.0.1:${server.port}`);
    try {
      await until(() => cli.output().includes('refused: NOPERM'), 'the refusal reported');
      const refusal = cli
        .output()
        .split('\n')
        .find((line) => line.includes('refused: NOPERM')) as string;
      expect(JSON.parse(refusal)).toMatchObject({ stage: 'queue', reason: 'unauthorized' });
      expect(cli.output()).not.toContain('"event":"ready"');
      await admin.call('ACL', 'SETUSER', 'worker', '+evalsha', '+eval');
      await until(() => cli.output().includes('"event":"ready"'), 'the worker to be ready');
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      expect(`${cli.output()}${cli.errors()}`).not.toContain('w-secret-pw');
    } finally {
      cli.child.kill('SIGKILL');
      admin.disconnect();
      await server.close();
    }
  }, 60_000);

  it('reports a wrong password as unauthorized, not as the network, and never says ready', async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    await admin.call('ACL', 'SETUSER', 'worker', 'on', '>right-secret-pw', '~*', '&*', '+@all');
    const cli = workerCli(`redis://worker:wrong-secret-pw@127.0.0.1:${server.port}`);
    try {
      await until(() => cli.output().includes('WRONGPASS'), 'the refused password reported');
      const reported = cli
        .output()
        .split('\n')
        .find((line) => line.includes('WRONGPASS')) as string;
      expect(JSON.parse(reported)).toMatchObject({
        event: 'error',
        stage: 'queue',
        reason: 'unauthorized',
      });
      expect(cli.output()).not.toContain('"event":"ready"');
      expect(`${cli.output()}${cli.errors()}`).not.toContain('wrong-secret-pw');
    } finally {
      cli.child.kill('SIGKILL');
      admin.disconnect();
      await server.close();
    }
  }, 60_000);
});
