import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { until } from './worker-processes.js';

/** A loopback port with nothing listening on it (bound, read, released). */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * `photodna-guard worker` with its Redis unreachable still stops: the first SIGTERM starts a
 * clean close (which cannot finish: BullMQ waits for the connection), a second one ends it with
 * exit code 1 and a reason that never holds the Redis password.
 */
it('photodna-guard worker stops on a second SIGTERM when Redis is unreachable, never hangs', async () => {
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const url = `redis://:secret-redis-pw@127.0.0.1:${await closedPort()}`;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      main,
      'worker',
      '--redis',
      url,
      '--api-key',
      'k',
      '--base-url',
      'http://127.0.0.1:9',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await until(() => output.includes('"event":"ready"'), 'the worker to start');
  child.kill('SIGTERM');
  await until(() => output.includes('"event":"stopping"'), 'the worker to start stopping');
  child.kill('SIGTERM');
  expect(await exited).toBe(1);
  expect(errors).toContain('not closed cleanly');
  expect(`${output}${errors}`).not.toContain('secret-redis-pw');
}, 60_000);
