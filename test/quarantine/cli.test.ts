/**
 * The reviewer CLI, run as users run it: `node dist/cli/main.js quarantine ...` in a child
 * process, against a real store directory. Needs `npm run build` first.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { withFileLock } from '../../src/quarantine/file-lock.js';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { until } from '../helpers/until.js';
import { makeIncident, useTempDirs } from './helpers.js';
import { CLI, cli, spawnCli } from './run-cli.js';

const tempDir = useTempDirs();

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` before these tests');
});

async function storeWithTwo(preserveDays?: number) {
  const dir = await tempDir();
  const store = createFileQuarantineStore(preserveDays ? { dir, preserveDays } : { dir });
  const first = makeIncident({ receivedAt: new Date('2025-03-01T10:00:00Z') }, 1);
  const second = makeIncident(
    { receivedAt: new Date('2025-03-02T10:00:00Z'), route: '/avatar' },
    2,
  );
  await store.put(first.incident, first.bytes);
  await store.put(second.incident, second.bytes);
  return { dir, store, first, second };
}

describe('usage', () => {
  it('answers --help with 0 and usage mistakes with 2', async () => {
    const dir = await tempDir();
    expect((await cli(['--help'])).code).toBe(0);
    for (const command of ['list', 'show', 'report', 'release', 'purge']) {
      const help = await cli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain(`photodna-guard quarantine ${command}`);
    }
    expect((await cli([])).code).toBe(2);
    expect((await cli(['explode', '--dir', dir])).code).toBe(2);
    expect((await cli(['list'])).stderr).toContain('--dir is required');
    expect((await cli(['show', '--dir', dir])).code).toBe(2);
    expect((await cli(['list', '--dir', dir, '--bogus'])).code).toBe(2);
    const creds = await cli(['report', 'abc', '--dir', dir, '--ncmec-password', 'hunter2']);
    expect(creds.code).toBe(2);
    expect(creds.stderr).toContain('NCMEC_USER and NCMEC_PASSWORD');
  });

  it('fails with 1 on a missing directory (and does not create it) or a bad id', async () => {
    const missing = join(await tempDir(), 'typo');
    const run = await cli(['list', '--dir', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no quarantine directory');
    expect(existsSync(missing)).toBe(false);
    const { dir } = await storeWithTwo();
    const bad = await cli(['show', '../../etc/passwd', '--dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid incident id');
  });
});

describe('list and show', () => {
  it('lists one line per incident, oldest first, and --json', async () => {
    const { dir, store, first, second } = await storeWithTwo();
    const run = await cli(['list', '--dir', dir]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^ID\s+RECEIVED\s+ROUTE\s+SHA256\s+POLICY\s+REPORT\s+RELEASED\s+PRESERVE-UNTIL$/,
    );
    expect(lines[1]?.split(/\s{2,}/)).toEqual([
      first.incident.id,
      '2025-03-01T10:00:00.000Z',
      'POST /upload',
      first.incident.file.sha256.slice(0, 12),
      'quarantine',
      'not-reported',
      'no',
      '2026-03-01T10:00:00.000Z',
    ]);
    expect(lines[2]).toContain(second.incident.id);
    expect(lines[2]).toContain('POST /avatar');

    const json = await cli(['list', '--dir', dir, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(await store.list());
  });

  it('show prints the record and never the image', async () => {
    const { dir, store, first } = await storeWithTwo();
    const run = await cli(['show', first.incident.id, '--dir', dir]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(await store.getRecord(first.incident.id));
    const base64 = first.bytes.toString('base64');
    for (const at of [0, 1000, base64.length - 60]) {
      expect(run.stdout).not.toContain(base64.slice(at, at + 40));
    }
    expect(run.stdout).not.toContain(first.bytes.subarray(0, 64).toString('hex'));
    expect(run.stdout.length).toBeLessThan(2000);
  });
});

describe('names the uploader chose', () => {
  // A C1 escape that erases a line, a line separator, a bidi override ("evil\u202egnp.exe" reads
  // "evilexe.png"), DEL: JSON.stringify leaves all of them raw.
  const hostile = 'evil\x9b2K\u2028\u202egnp.exe\x7f';
  const raw = ['\x9b', '\u2028', '\u202e', '\x7f'];

  it('show, list --json and audit print them escaped, the JSON unchanged', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident({ route: `/upload/${hostile}` }, 3);
    incident.file = { ...incident.file, originalname: hostile };
    await store.put(incident, bytes);
    const reason = `pasted from the upload: ${hostile}\x1b[2K`;
    expect((await cli(['release', incident.id, '--dir', dir, '--reason', reason])).code).toBe(0);
    const record = await store.getRecord(incident.id);
    const runs = {
      show: await cli(['show', incident.id, '--dir', dir]),
      list: await cli(['list', '--dir', dir, '--json']),
      audit: await cli(['audit', '--dir', dir]),
      auditJson: await cli(['audit', '--dir', dir, '--json']),
    };
    // Before: printed raw by all four.
    for (const [name, run] of Object.entries(runs)) {
      expect(run.code, name).toBe(0);
      for (const char of [...raw, '\x1b']) expect(run.stdout, name).not.toContain(char);
    }
    expect(JSON.parse(runs.show.stdout)).toEqual(record);
    expect(JSON.parse(runs.list.stdout)).toEqual([record]);
    expect(JSON.parse(runs.auditJson.stdout).detail).toContain(hostile);
    expect(runs.audit.stdout).toContain(String.raw`evil\u009b2K\u2028\u202egnp.exe\u007f`);
  });
});

describe('release and purge', () => {
  it('release records the reason; a second release keeps the first', async () => {
    const { dir, store, first } = await storeWithTwo();
    const run = await cli([
      'release',
      first.incident.id,
      '--dir',
      dir,
      '--reason',
      'false positive',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${first.incident.id} released at`);
    const record = await store.getRecord(first.incident.id);
    expect(record.released?.reason).toBe('false positive');
    const again = await cli(['release', first.incident.id, '--dir', dir]);
    expect(again.stdout).toContain('was already released');
    expect((await store.getRecord(first.incident.id)).released).toEqual(record.released);
    const list = await cli(['list', '--dir', dir]);
    expect(list.stdout).toContain(record.released?.at);
  });

  it('purge --dry-run removes nothing; purge removes only expired reported/released incidents', async () => {
    const { dir, store, first, second } = await storeWithTwo(1); // both expired long ago
    await store.release(first.incident.id);
    const dry = await cli(['purge', '--dir', dir, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would remove ${first.incident.id} (expired and released)`);
    expect(dry.stdout).toContain(
      `kept ${second.incident.id} (expired but neither reported nor released)`,
    );
    expect(await readdir(dir)).toHaveLength(4);

    const run = await cli(['purge', '--dir', dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`removed ${first.incident.id}`);
    expect(run.stdout).toContain(`kept ${second.incident.id}`);
    expect(run.stdout).toContain('removed 1, kept 1');
    expect((await store.list()).map((r) => r.id)).toEqual([second.incident.id]);
  });
});

describe('release and purge under SIGTERM', () => {
  it('purge: a signal while an incident is removed lets its audit entry be written, then stops (143)', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 1 });
    const ids: string[] = [];
    for (let seed = 1; seed <= 3; seed++) {
      const { incident, bytes } = makeIncident({}, seed);
      await store.put(incident, bytes);
      await store.release(incident.id);
      ids.push(incident.id);
    }
    const audit = join(dir, 'audit.log');
    let run: ReturnType<typeof spawnCli> | undefined;
    // Another appender holds the audit log's lock: the purge removes its first incident, then
    // waits to write that removal's entry. The signal comes in exactly there.
    await withFileLock(`${audit}.lock`, async () => {
      run = spawnCli(['purge', '--dir', dir]);
      await until(async () => (await store.list()).length === 2, 'one incident removed');
      run.child.kill('SIGTERM');
      await until(
        () => run?.stderr().includes('stopping after the incident at hand') ?? false,
        'the signal to be noted',
      );
    });
    if (!run) throw new Error('not started');
    // Before: killed at once, the incident gone with no audit entry saying who removed it.
    expect(await run.exited, run.stderr()).toEqual({ code: 143, signal: null });
    const removed = ids.filter((id) => run?.stdout().includes(`removed ${id}`));
    expect(removed).toHaveLength(1);
    expect(run.stdout()).toContain('removed 1, kept 0; stopped, 2 not looked at');
    expect((await store.list()).map((r) => r.id).sort()).toEqual(
      ids.filter((id) => !removed.includes(id)).sort(),
    );
    const entries = (await readFile(audit, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(entries).toMatchObject([{ action: 'purge', incident: removed[0], ok: true }]);
  });

  it('release: a signal between the record and its audit entry lets the entry be written (143)', async () => {
    const { dir, store, first } = await storeWithTwo();
    const audit = join(dir, 'audit.log');
    const id = first.incident.id;
    let run: ReturnType<typeof spawnCli> | undefined;
    await withFileLock(`${audit}.lock`, async () => {
      run = spawnCli(['release', id, '--dir', dir, '--reason', 'false positive']);
      await until(async () => (await store.getRecord(id)).released !== undefined, 'the release');
      run.child.kill('SIGTERM');
      await until(
        () => run?.stderr().includes('finishing the release and its audit entry') ?? false,
        'the signal to be noted',
      );
    });
    if (!run) throw new Error('not started');
    // Before: killed at once, the release taken and never audited.
    expect(await run.exited, run.stderr()).toEqual({ code: 143, signal: null });
    expect(run.stdout()).toContain(`${id} released at`);
    const entries = (await readFile(audit, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(entries).toMatchObject([{ action: 'release', incident: id, ok: true }]);
  });
});

describe('files the CLI appends to: the audit log and the allow-list', () => {
  const PDQ = 'ab'.repeat(32);

  it('release never writes through a symlink planted at --allow-list FILE or DIR/audit.log, and releases nothing then', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident({}, 4);
    incident.file = { ...incident.file, pdq: { hash: PDQ, quality: 90 } };
    await store.put(incident, bytes);
    const id = incident.id;
    const elsewhere = await tempDir();
    const victim = join(elsewhere, 'victim.txt');
    await writeFile(victim, 'precious\n');
    const allowList = join(elsewhere, 'allow.txt');
    await symlink(victim, allowList);
    const release = ['release', id, '--dir', dir, '--reason', 'false positive'];

    // Before: "pdq <hex>" appended to victim.txt, and the release taken.
    const throughList = await cli([...release, '--allow-list', allowList]);
    expect(throughList.code).toBe(1);
    expect(throughList.stderr).toBe(
      `photodna-guard quarantine release: the allow-list ${allowList} is a symbolic link, not written through: give the file itself\n`,
    );
    expect((await store.getRecord(id)).released).toBeUndefined();

    const audit = join(dir, 'audit.log');
    await rm(audit, { force: true });
    await symlink(victim, audit);
    // Before: the audit entry appended to victim.txt.
    const throughAudit = await cli(release);
    expect(throughAudit.code).toBe(1);
    expect(throughAudit.stderr).toContain(`the audit log ${audit} is a symbolic link`);
    expect((await store.getRecord(id)).released).toBeUndefined();
    expect(await readFile(victim, 'utf8')).toBe('precious\n');

    // The files themselves: released, listed and audited.
    await rm(audit);
    await rm(allowList);
    const listed = await cli([...release, '--allow-list', allowList]);
    expect(listed.code).toBe(0);
    expect(await readFile(allowList, 'utf8')).toBe(`pdq ${PDQ}\n`);
    expect((await readFile(audit, 'utf8')).split('\n').filter(Boolean)).toHaveLength(1);
  });
});

describe('report (configuration checks; sending is covered end to end in test/report)', () => {
  it('needs an API key and the reporter details, naming where each comes from', async () => {
    const { dir, first } = await storeWithTwo();
    const id = first.incident.id;
    const noKey = await cli(['report', id, '--dir', dir]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('PHOTODNA_API_KEY');
    const noCreds = await cli(['report', id, '--dir', dir, '--org-name', 'Example'], {
      PHOTODNA_API_KEY: 'k',
      PHOTODNA_REPORTER_NAME: 'R',
      PHOTODNA_REPORTER_EMAIL: 'r@example.com',
    });
    expect(noCreds.code).toBe(2);
    expect(noCreds.stderr).toContain('missing reporter details: NCMEC_USER; NCMEC_PASSWORD');
  });
});
