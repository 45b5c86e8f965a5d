import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The demo (`npm start`) as a child process: it binds loopback, takes `PORT`, says clearly
 * when the port is taken instead of crashing, and leaves nothing in the temp directory either
 * way. Needs `dist/` (`npm test` builds first).
 */
const root = resolve(import.meta.dirname, '../..');
const servers: Server[] = [];
const temps: string[] = [];
afterAll(() => {
  for (const server of servers) server.close();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function run(env: Record<string, string>, until: RegExp) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(PORT|HOST|PHOTODNA_)/.test(k)),
  );
  // Its own temp directory (its quarantine and queue directories go there), empty once it exits.
  const temp = mkdtempSync(join(tmpdir(), 'pdg-demo-'));
  temps.push(temp);
  const child = spawn(process.execPath, ['examples/demo/server.mjs'], {
    cwd: root,
    env: { ...clean, TMPDIR: temp, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const seen = new Promise<void>((done) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      if (until.test(output)) done();
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, seen, exited, output: () => output, leftovers: () => readdirSync(temp) };
}

describe('the demo', () => {
  it('says the port is taken (and how to pick another), exits 1, no TypeError', async () => {
    const taken = createServer();
    servers.push(taken);
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const { port } = taken.address() as { port: number };
    const demo = run({ PORT: String(port) }, /in use/);
    expect(await demo.exited).toBe(1);
    expect(demo.output()).toContain(`Port ${port} on 127.0.0.1 is already in use`);
    expect(demo.output()).toContain('PORT=3001 npm start');
    expect(demo.output()).not.toMatch(/TypeError|at .*server\.mjs/);
    expect(demo.leftovers()).toEqual([]);
  }, 30_000);

  it('listens on 127.0.0.1 and the PORT given', async () => {
    const demo = run({ PORT: '0' }, /listening on http:\/\/127\.0\.0\.1:\d+/);
    await demo.seen;
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(demo.output())?.[1] ?? '';
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
    expect(demo.leftovers()).toEqual([]);
  }, 30_000);
});
