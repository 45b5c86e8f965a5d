/**
 * `photodna-guard console --dir DIR`, run as users run it (the built CLI in a child process):
 * 127.0.0.1 only, a one-time token printed (or taken from PHOTODNA_CONSOLE_TOKEN and never
 * printed), the same page and API, a clean exit on SIGTERM. Needs `npm run build` first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { until } from '../helpers/until.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { CLI } from '../quarantine/run-cli.js';
import { seededStore, TOKEN } from './helpers.js';

const tempDir = useTempDirs();
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` before these tests');
});

function start(args: string[], env: Record<string, string> = {}) {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(PHOTODNA_|NCMEC_)/.test(key)),
  );
  const child = spawn(process.execPath, [CLI, 'console', ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += String(chunk);
  });
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  /** Resolves with the first match of `pattern` in stdout, as soon as it is printed. */
  const until = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stdout);
        if (match) resolve(match);
      };
      child.stdout.on('data', check);
      check();
      void exit.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
  const ready = until(/console: (http:\/\/127\.0\.0\.1:\d+\/)\n/).then((m) => m[1] as string);
  ready.catch(() => undefined); // usage tests await `exit` instead
  return { child, ready, until, exit, output: () => stdout, errors: () => stderr };
}

async function loginStatus(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return res.status;
}

/** A session's cookie and CSRF token, logged in with `token`. */
async function session(url: string, token: string): Promise<Record<string, string>> {
  const res = await fetch(`${url}api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const { csrf } = (await res.json()) as { csrf: string };
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
}

/** The console's Report button for incident `id`; its answer, unless the console's stop cut it. */
async function askReport(url: string, id: string): Promise<Response | undefined> {
  const headers = await session(url, TOKEN);
  return fetch(`${url}api/incidents/${id}/report`, { method: 'POST', headers, body: '{}' }).catch(
    () => undefined,
  );
}

/** `exit`'s code, or 'still running' once `ms` passed. */
async function exitWithin(
  exit: Promise<number | null>,
  ms: number,
): Promise<number | string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(resolve, ms, 'still running');
  });
  try {
    return await Promise.race([exit, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('photodna-guard console', () => {
  it('prints a one-time token, serves the console on 127.0.0.1, stops on SIGTERM', async () => {
    const dir = await tempDir();
    await seededStore(dir);
    const run = start(['--dir', dir, '--test']);
    const url = await run.ready;
    const token = (await run.until(/Login token \(shown once\): (\S+)\n/))[1] ?? '';
    await run.until(/TEST MODE/);
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(run.output()).toContain('TEST MODE');
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const { request: httpRequest } = await import('node:http');
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${url}api/session`, { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound, 'a foreign Host (DNS rebinding) is refused').toBe(421);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    expect((await fetch(`${url}api/incidents`)).status).toBe(401);
    expect(await loginStatus(url, 'x'.repeat(token.length))).toBe(401);
    const login = await fetch(`${url}api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(login.status).toBe(200);
    const body = (await login.json()) as { actor: string; reporting: { isTest: boolean } };
    expect(body.actor).toMatch(/^console:/);
    expect(body.reporting.isTest).toBe(true);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const list = await fetch(`${url}api/incidents`, { headers: { cookie } });
    expect(((await list.json()) as { total: number }).total).toBe(3);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
  });

  it('takes the token from PHOTODNA_CONSOLE_TOKEN and never prints it', async () => {
    const dir = await tempDir();
    const run = start(['--dir', dir], { PHOTODNA_CONSOLE_TOKEN: TOKEN });
    const url = await run.ready;
    expect(run.output()).not.toContain(TOKEN);
    expect(run.output()).not.toContain('Login token');
    expect(await loginStatus(url, TOKEN)).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
  });

  it('usage errors exit 2, a missing directory 1, a short env token 1', async () => {
    expect(await start([]).exit).toBe(2);
    expect(await start(['--dir', '.', '--port', 'x']).exit).toBe(2);
    const missing = start(['--dir', join(await tempDir(), 'typo')]);
    expect(await missing.exit).toBe(1);
    expect(missing.errors()).toContain('no quarantine directory');
    const short = start(['--dir', await tempDir()], { PHOTODNA_CONSOLE_TOKEN: 'short' });
    expect(await short.exit).toBe(1);
    expect(short.errors()).toMatch(/at least 16/);
    expect(short.errors()).not.toContain('short\n');
  });

  describe('stopped while a report is in progress', () => {
    const reporting = (emulatorUrl: string) => ({
      PHOTODNA_CONSOLE_TOKEN: TOKEN,
      PHOTODNA_API_KEY: 'test-key',
      PHOTODNA_BASE_URL: emulatorUrl,
      PHOTODNA_ORG_NAME: 'Example Forum',
      PHOTODNA_REPORTER_NAME: 'Trust and Safety',
      PHOTODNA_REPORTER_EMAIL: 'tns@example.com',
      NCMEC_USER: 'esp-user',
      NCMEC_PASSWORD: 'esp-secret-pw',
    });

    it('SIGTERM once the report reached the service: says what it waits for, exits 0 once the record and the audit log note it', async () => {
      const emulator = await startEmulator({ port: 0 });
      try {
        const dir = await tempDir();
        const { store, fresh } = await seededStore(dir);
        const run = start(['--dir', dir, '--test'], reporting(emulator.url));
        const url = await run.ready;
        // NCMEC has the report as soon as it arrives; its answer comes 3 s later.
        emulator.setLatency(3_000);
        const answer = askReport(url, fresh.id);
        await until(() => emulator.testReports.length === 1, 'the report to arrive');
        run.child.kill('SIGTERM');
        expect(await run.exit, run.errors()).toBe(0);
        await answer;
        expect(run.errors()).toContain('waiting for reviewer actions in progress');
        const trackingId = emulator.testReports[0]?.trackingId;
        const record = await store.getRecord(fresh.id);
        expect(record.report).toMatchObject({ status: 'reported', trackingId, isTest: true });
        expect(record.reporting).toBeUndefined();
        const audit = await readFile(join(dir, 'audit.log'), 'utf8');
        expect(audit).toContain('"action":"report"');
        expect(audit).toContain(trackingId);
      } finally {
        await emulator.close();
      }
    }, 60_000);

    it("SIGTERM while the report waits on another reporter's claim: exits 0 promptly, nothing sent, their claim kept", async () => {
      const emulator = await startEmulator({ port: 0 });
      try {
        const dir = await tempDir();
        const { store, fresh } = await seededStore(dir);
        const claim = {
          token: 'another-reporter',
          until: new Date(Date.now() + 600_000).toISOString(),
        };
        expect((await store.claimReport(fresh.id, claim)).held).toBe(true);
        const run = start(['--dir', dir, '--test'], reporting(emulator.url));
        const url = await run.ready;
        const answer = askReport(url, fresh.id);
        // The action has begun once it checked that its audit entry can be written (creating the
        // log); it then finds the other reporter's claim and waits for it to end.
        await until(() => existsSync(join(dir, 'audit.log')), 'the report action to begin');
        run.child.kill('SIGTERM');
        // Before: the console waited for the other reporter's claim to end (up to ten minutes),
        // then sent the report.
        expect(await exitWithin(run.exit, 20_000), run.errors()).toBe(0);
        await answer;
        expect(emulator.testReports).toHaveLength(0);
        const record = await store.getRecord(fresh.id);
        expect(record.report.status).toBe('not-reported');
        expect(record.reporting).toMatchObject(claim);
      } finally {
        await emulator.close();
      }
    }, 60_000);
  });
});
