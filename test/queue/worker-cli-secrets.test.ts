import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { startRedisServer } from '../cluster/redis-server.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { until } from '../helpers/until.js';
import { spawnWorkerCli } from './worker-processes.js';

/** PhotoDNA at a port where nothing answers: no job runs, none is needed. */
const NO_SERVICE = ['--base-url', 'http://127.0.0.1:9'];

/**
 * `photodna-guard worker`'s secrets, the PhotoDNA key and its Redis URL's password: readable by
 * every user of the machine on its command line (ps, /proc/<pid>/cmdline) and kept in shell
 * history, so they can come from PHOTODNA_API_KEY and PHOTODNA_REDIS_URL. The flags still work,
 * with one warning line each on stderr that names the variable and never the value.
 */
describeWithRedis('photodna-guard worker: secrets from the environment', () => {
  it('--redis with a password and --api-key warn without their values; the variables work without a warning', async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    await admin.call('ACL', 'SETUSER', 'worker', 'on', '>worker-secret-pw', '~*', '&*', '+@all');
    // Only this user may act: a worker that ignored the URL's credentials would not be ready.
    await admin.call('ACL', 'SETUSER', 'default', 'off');
    admin.disconnect();
    const url = `redis://worker:worker-secret-pw@127.0.0.1:${server.port}`;
    const key = 'worker-secret-key-0123456789';
    const flagged = spawnWorkerCli(['--redis', url, '--api-key', key, ...NO_SERVICE], {
      PHOTODNA_API_KEY: '',
      PHOTODNA_REDIS_URL: '',
    });
    const fromEnv = spawnWorkerCli(NO_SERVICE, {
      PHOTODNA_API_KEY: key,
      PHOTODNA_REDIS_URL: url,
    });
    try {
      for (const cli of [flagged, fromEnv]) {
        // Before: the variable was not read: exit 2, "--redis URL is required".
        await until(
          () => cli.output().includes('"event":"ready"') || cli.child.exitCode !== null,
          'the worker to be ready',
        );
        expect(cli.output(), cli.errors()).toContain('"event":"ready"');
        cli.child.kill('SIGTERM');
        expect(await cli.exited).toBe(0);
        expect(`${cli.output()}${cli.errors()}`).not.toContain('worker-secret-pw');
        expect(`${cli.output()}${cli.errors()}`).not.toContain(key);
      }
      // Before: no warning.
      expect(flagged.errors().split('\n').filter(Boolean)).toEqual([
        'photodna-guard: warning: --redis with a password on the command line is visible to every user of this machine (ps) and kept in shell history; set PHOTODNA_REDIS_URL instead',
        'photodna-guard: warning: --api-key on the command line is visible to every user of this machine (ps) and kept in shell history; set PHOTODNA_API_KEY instead',
      ]);
      expect(fromEnv.errors()).toBe('');
    } finally {
      flagged.child.kill('SIGKILL');
      fromEnv.child.kill('SIGKILL');
      await server.close();
    }
  }, 60_000);

  it("--base-url or PHOTODNA_BASE_URL with credentials fails with the client's refusal, never printing them", async () => {
    const server = await startRedisServer();
    const url = 'http://base-user:base-secret-pw@127.0.0.1:9';
    const refusal = (from: string) =>
      `photodna-guard: Invalid PhotoDnaClient options: baseUrl${from}: must not carry a user name or password: it is never sent. PhotoDNA authenticates with apiKey (the Ocp-Apim-Subscription-Key header, or PHOTODNA_API_KEY); give the URL without it\n`;
    const env = { PHOTODNA_API_KEY: 'worker-base-url-key', PHOTODNA_REDIS_URL: '' };
    const clis = [
      { cli: spawnWorkerCli(['--redis', server.url, '--base-url', url], env), from: '' },
      {
        cli: spawnWorkerCli(['--redis', server.url], { ...env, PHOTODNA_BASE_URL: url }),
        from: ' (from PHOTODNA_BASE_URL)',
      },
    ];
    try {
      for (const { cli, from } of clis) {
        // Before: a warning (the flag) or nothing (the variable), then ready, the credentials dropped.
        expect(await cli.exited).toBe(1);
        expect(cli.errors()).toBe(refusal(from));
        expect(cli.output()).not.toContain('"event":"ready"');
        expect(`${cli.output()}${cli.errors()}`).not.toContain('base-secret-pw');
        expect(`${cli.output()}${cli.errors()}`).not.toContain('base-user');
      }
    } finally {
      for (const { cli } of clis) cli.child.kill('SIGKILL');
      await server.close();
    }
  }, 60_000);
});
