/**
 * Reporting a quarantined incident end to end: a real file store, the real PhotoDNA client and
 * the emulator over loopback HTTP; and the reviewer CLI (built, in a child process) against the
 * same emulator. The CLI part needs `npm run build` first.
 */
import { watch } from 'node:fs';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PhotoDnaClient } from '../../src/client/index.js';
import { startEmulator } from '../../src/emulator/index.js';
import type { Emulator } from '../../src/emulator/types.js';
import { withFileLock } from '../../src/quarantine/file-lock.js';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { lockName, recordName } from '../../src/quarantine/names.js';
import { reportQuarantined } from '../../src/report/from-record.js';
import type { ReporterInfo } from '../../src/types.js';
import { until } from '../helpers/until.js';
import { makeIncident, sha256, useTempDirs } from '../quarantine/helpers.js';
import { cli, spawnCli } from '../quarantine/run-cli.js';

const tempDir = useTempDirs();
const DAY_MS = 86_400_000;
const INFO: ReporterInfo = {
  orgName: 'Example Forum',
  reporterName: 'Trust and Safety',
  reporterEmail: 'tns@example.com',
  ncmecUser: 'esp-user',
  ncmecPassword: 'esp-secret-pw',
  isTest: true,
};

let emulator: Emulator;
let client: PhotoDnaClient;
beforeEach(async () => {
  emulator = await startEmulator({ port: 0 });
  client = new PhotoDnaClient({ apiKey: 'test-key', baseUrl: emulator.url });
});
afterEach(async () => {
  await client.close();
  await emulator.close();
});

async function quarantined() {
  const dir = await tempDir();
  const store = createFileQuarantineStore({ dir });
  const { incident, bytes } = makeIncident();
  await store.put(incident, bytes);
  return { dir, store, id: incident.id, bytes };
}

describe('reportQuarantined with the real client and the emulator', () => {
  it('reaches the service once for two calls, again when forced, and records each outcome', async () => {
    const { store, id, bytes } = await quarantined();
    const first = await reportQuarantined({ store, id, sender: client, info: INFO });
    const second = await reportQuarantined({ store, id, sender: client, info: INFO });

    expect(emulator.testReports).toHaveLength(1);
    expect(emulator.reports).toHaveLength(0);
    const received = emulator.testReports[0];
    expect(received?.trackingId).toBe(first.trackingId);
    expect(received?.ncmecUser).toBe('esp-user');
    expect(received?.ncmecPasswordPresent).toBe(true);
    expect(received?.body).toMatchObject({
      OrgName: 'Example Forum',
      IncidentTime: '2025-03-01T12:00:00.000Z',
      ReporteeIPAddress: '203.0.113.7',
      ViolationContentCollection: [
        {
          Name: `${sha256(bytes)}.png`,
          Value: bytes.toString('base64'),
          UploadIpAddress: '203.0.113.7',
        },
      ],
      AdditionalMetadata: [{ Key: 'IsTest', Value: 'true' }],
    });
    expect(JSON.stringify(received)).not.toContain('esp-secret-pw');

    expect(first.statusCode).toBe(3000);
    expect(second.trackingId).toBe(first.trackingId);
    expect(second.statusCode).toBe(3000);
    const record = await store.getRecord(id);
    expect(record.report).toMatchObject({
      status: 'reported',
      trackingId: first.trackingId,
      statusCode: 3000,
      isTest: true,
    });

    const forced = await reportQuarantined({ store, id, sender: client, info: INFO, force: true });
    expect(emulator.testReports).toHaveLength(2);
    expect(forced.trackingId).not.toBe(first.trackingId);
    const after = await store.getRecord(id);
    expect(after.report.trackingId).toBe(forced.trackingId);
    expect(after.reportHistory?.map((r) => r.trackingId)).toEqual([first.trackingId]);
  });

  it('records a refused report as failed (without the password) and sends it again next time', async () => {
    const { store, id } = await quarantined();
    // The service validates the body: an address that is not an email is refused with 3002.
    const invalid = { ...INFO, reporterEmail: 'not an email' };
    await expect(reportQuarantined({ store, id, sender: client, info: invalid })).rejects.toThrow(
      /3002/,
    );
    expect(emulator.testReports).toHaveLength(0);
    const failed = await store.getRecord(id);
    expect(failed.report).toMatchObject({ status: 'failed', statusCode: 3002, isTest: true });
    expect(failed.report.error).toContain('ReporterEmail');
    expect(JSON.stringify(failed)).not.toContain('esp-secret-pw');

    const retried = await reportQuarantined({ store, id, sender: client, info: INFO });
    expect(retried.statusCode).toBe(3000);
    expect(emulator.testReports).toHaveLength(1);
    expect((await store.getRecord(id)).report.status).toBe('reported');
  });
});

describe('photodna-guard quarantine report', () => {
  const env = () => ({
    PHOTODNA_API_KEY: 'test-key',
    PHOTODNA_BASE_URL: emulator.url,
    PHOTODNA_ORG_NAME: 'Example Forum',
    NCMEC_USER: 'esp-user',
    NCMEC_PASSWORD: 'esp-secret-pw',
  });
  const reporter = ['--reporter-name', 'Trust and Safety', '--reporter-email', 'tns@example.com'];

  it('sends once, says so when asked again, and sends again with --force', async () => {
    const { dir, store, id } = await quarantined();
    const first = await cli(['report', id, '--dir', dir, ...reporter, '--test'], env());
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const trackingId = emulator.testReports[0]?.trackingId;
    expect(first.stdout).toBe(
      `${id} reported: tracking id ${trackingId}, status 3000, test endpoint\n`,
    );

    const again = await cli(['report', id, '--dir', dir, ...reporter, '--test'], env());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('was already reported');
    expect(again.stdout).toContain(`tracking id ${trackingId}`);
    expect(emulator.testReports).toHaveLength(1);

    const forced = await cli(['report', id, '--dir', dir, ...reporter, '--force'], env());
    expect(forced.code).toBe(0);
    expect(emulator.reports).toHaveLength(1); // without --test: the real endpoint
    expect((await store.getRecord(id)).report).toMatchObject({ status: 'reported', isTest: false });
    const list = await cli(['list', '--dir', dir], env());
    expect(list.stdout).toContain('reported');
  });

  it('--api-key works but warns on stderr, naming PHOTODNA_API_KEY and never the key', async () => {
    const { dir, id } = await quarantined();
    const { PHOTODNA_API_KEY: _fromEnv, ...noKey } = env();
    const key = 'report-secret-key-0123456789';
    const run = await cli(
      ['report', id, '--dir', dir, ...reporter, '--test', '--api-key', key],
      noKey,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${id} reported`);
    expect(emulator.calls.filter((c) => c.operation === 'report' && c.key === key)).toHaveLength(1);
    // Before: no warning. (Without the flag, as above, stderr is empty.)
    expect(run.stderr).toBe(
      'photodna-guard: warning: --api-key on the command line is visible to every user of this machine (ps) and kept in shell history; set PHOTODNA_API_KEY instead\n',
    );
  });

  it("--base-url or PHOTODNA_BASE_URL with credentials fails with the client's refusal before sending, never printing them", async () => {
    const { dir, store, id } = await quarantined();
    const url = emulator.url.replace('http://', 'http://base-user:base-secret-pw@');
    const refusal = (from: string) =>
      `photodna-guard quarantine report: Invalid PhotoDnaClient options: baseUrl${from}: must not carry a user name or password: it is never sent. PhotoDNA authenticates with apiKey (the Ocp-Apim-Subscription-Key header, or PHOTODNA_API_KEY); give the URL without it\n`;
    for (const [args, environment, from] of [
      [['--base-url', url], env(), ''],
      [[], { ...env(), PHOTODNA_BASE_URL: url }, ' (from PHOTODNA_BASE_URL)'],
    ] as const) {
      const run = await cli(
        ['report', id, '--dir', dir, ...reporter, '--test', ...args],
        environment,
      );
      // Before: reported (with a warning for the flag), the credentials dropped.
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(refusal(from));
      expect(`${run.stdout}${run.stderr}`).not.toContain('base-secret-pw');
      expect(`${run.stdout}${run.stderr}`).not.toContain('base-user');
    }
    expect(emulator.testReports).toHaveLength(0);
    expect((await store.getRecord(id)).report.status).toBe('not-reported');
  });

  it('sends nothing while DIR/audit.log is a symlink: the report could not be audited', async () => {
    const { dir, store, id } = await quarantined();
    const victim = join(await tempDir(), 'victim.txt');
    await writeFile(victim, 'precious\n');
    await symlink(victim, join(dir, 'audit.log'));
    // Before: the report was sent, then its audit entry appended to victim.txt.
    const run = await cli(['report', id, '--dir', dir, ...reporter, '--test'], env());
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`the audit log ${join(dir, 'audit.log')} is a symbolic link`);
    expect(emulator.testReports).toHaveLength(0);
    expect((await store.getRecord(id)).report.status).toBe('not-reported');
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
  });

  it('SIGINT or SIGTERM while the report is sent: it is answered and recorded first, exit 130/143, never sent twice', async () => {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const { dir, store, id } = await quarantined();
      const before = emulator.testReports.length;
      // NCMEC has the report as soon as it arrives; its answer comes 3 s later.
      emulator.setLatency(3_000);
      try {
        const run = spawnCli(['report', id, '--dir', dir, ...reporter, '--test'], env());
        await until(() => emulator.testReports.length > before, 'the report to arrive');
        run.child.kill(signal);
        // Before: killed at once, the record saying nothing of the report NCMEC got; the next
        // run sent it again once the claim expired.
        expect(await run.exited, run.stderr()).toEqual({ code, signal: null });
        expect(run.stderr()).toContain('stopping once the report is answered and recorded');
        const trackingId = emulator.testReports.at(-1)?.trackingId;
        expect(run.stdout()).toBe(
          `${id} reported: tracking id ${trackingId}, status 3000, test endpoint\n`,
        );
        const record = await store.getRecord(id);
        expect(record.report).toMatchObject({ status: 'reported', trackingId });
        expect(record.reporting).toBeUndefined();
      } finally {
        emulator.setLatency(0);
      }
      const again = await cli(['report', id, '--dir', dir, ...reporter, '--test'], env());
      expect(again.stdout).toContain('was already reported');
      expect(emulator.testReports).toHaveLength(before + 1);
    }
  }, 60_000);

  it('SIGINT while waiting on another reporter: says so, stops at once with 130, nothing sent, their claim kept', async () => {
    const { dir, store, id } = await quarantined();
    const claimUntil = new Date(Date.now() + 600_000).toISOString();
    expect(
      (await store.claimReport(id, { token: 'another-reporter', until: claimUntil })).held,
    ).toBe(true);
    const run = spawnCli(['report', id, '--dir', dir, ...reporter, '--test'], env());
    await until(() => run.stderr().includes('another reporter is sending'), 'the wait to begin');
    expect(run.stderr()).toContain(`waiting for its outcome (at most until ${claimUntil})`);
    run.child.kill('SIGINT');
    // Before: the first signal was held for a send that had not begun; the wait went on up to
    // ten minutes (until the other's claim expired), then the report went out.
    expect(await run.exited, run.stderr()).toEqual({ code: 130, signal: null });
    expect(run.stderr()).toContain(`stopped; ${id} was not sent`);
    expect(run.stdout()).toBe('');
    expect(emulator.testReports).toHaveLength(0);
    const record = await store.getRecord(id);
    expect(record.report.status).toBe('not-reported');
    expect(record.reporting).toMatchObject({ token: 'another-reporter', until: claimUntil });
  }, 60_000);

  it("SIGINT while waiting for the record's lock another live process holds: stops at once with 130, nothing sent or written", async () => {
    const { dir, store, id } = await quarantined();
    const lock = join(dir, lockName(id));
    const recordBefore = await readFile(join(dir, recordName(id)), 'utf8');
    // This process holds the record's lock (a server updating it, on a slow disk).
    let unlock = (): void => {};
    let locked = false;
    const holding = withFileLock(lock, () => {
      locked = true;
      return new Promise<void>((resolve) => {
        unlock = resolve;
      });
    });
    await until(() => locked, 'the lock to be held');
    const heldLock = await readFile(lock, 'utf8');
    // Each try to take the lock writes a draft of it first (see file-lock.ts): seeing one, the
    // CLI is waiting for the lock.
    let tried = false;
    const watcher = watch(dir, (_event, name) => {
      if (name?.startsWith(`${lockName(id)}.draft-`)) tried = true;
    });
    try {
      const run = spawnCli(['report', id, '--dir', dir, ...reporter, '--test'], env());
      await until(() => tried, 'the CLI to wait for the lock');
      run.child.kill('SIGINT');
      // Before: the first signal was held for a send that had not begun; the CLI waited out the
      // lock's 15 s and exited 1 ("timed out waiting for the lock").
      expect(await run.exited, run.stderr()).toEqual({ code: 130, signal: null });
      expect(run.stderr()).toContain(`stopped; ${id} was not sent`);
      expect(run.stderr()).not.toContain('timed out');
      expect(run.stdout()).toBe('');
      expect(emulator.testReports).toHaveLength(0);
      expect(await readFile(join(dir, recordName(id)), 'utf8')).toBe(recordBefore);
      expect(await readFile(lock, 'utf8')).toBe(heldLock);
      const left = (await readdir(dir)).filter((name) => name.startsWith(lockName(id)));
      expect(left).toEqual([lockName(id)]); // no draft or claim of the CLI's left behind
    } finally {
      watcher.close();
      unlock();
      await holding;
    }
    expect((await store.getRecord(id)).report.status).toBe('not-reported');
  }, 60_000);

  it("keeps the evidence the server's preserveDays after a report the CLI files (it opens the store with the default)", async () => {
    const dir = await tempDir();
    const server = createFileQuarantineStore({ dir, preserveDays: 730 });
    const { incident, bytes } = makeIncident({ receivedAt: new Date(Date.now() - 500 * DAY_MS) });
    await server.put(incident, bytes);
    const run = await cli(['report', incident.id, '--dir', dir, ...reporter, '--test'], env());
    expect(run.code).toBe(0);
    const record = await server.getRecord(incident.id);
    const reportedAt = Date.parse(record.report.at as string);
    expect(Date.parse(record.preserveUntil)).toBeGreaterThanOrEqual(reportedAt + 730 * DAY_MS);
  });

  it('exits 1 when the service refuses the key, and the record says failed', async () => {
    const { dir, store, id } = await quarantined();
    const wrongKey = await startEmulator({ port: 0, apiKey: 'the-right-key' });
    const run = await cli(['report', id, '--dir', dir, ...reporter, '--test'], {
      ...env(),
      PHOTODNA_BASE_URL: wrongKey.url,
    });
    await wrongKey.close();
    expect(wrongKey.testReports).toHaveLength(0);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('photodna-guard quarantine report:');
    expect(run.stderr).not.toContain('esp-secret-pw');
    expect(run.stderr).not.toContain('test-key');
    expect((await store.getRecord(id)).report.status).toBe('failed');
  });

  it('evidence ip: --reportee-ip sets the reported address; a non-IP is a usage error', async () => {
    const { dir, id } = await quarantined();
    const bad = await cli(
      ['report', id, '--dir', dir, ...reporter, '--test', '--reportee-ip', 'evil'],
      env(),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--reportee-ip');
    const before = emulator.testReports.length;
    const run = await cli(
      ['report', id, '--dir', dir, ...reporter, '--test', '--reportee-ip', '198.51.100.23'],
      env(),
    );
    expect(run.code).toBe(0);
    expect(emulator.testReports).toHaveLength(before + 1);
    expect(emulator.testReports.at(-1)?.body).toMatchObject({ ReporteeIPAddress: '198.51.100.23' });
  });

  it('--reportee-name or --additional-info past the service limit: a usage error naming the flag, nothing sent', async () => {
    const { dir, store, id } = await quarantined();
    const run = (extra: string[]) =>
      cli(['report', id, '--dir', dir, ...reporter, '--test', ...extra], env());
    const name = await run(['--reportee-name', 'r'.repeat(1_001)]);
    expect(name.code).toBe(2);
    expect(name.stderr).toContain('--reportee-name is 1,001 characters, over the 1,000');
    const info = await run(['--additional-info', 'a'.repeat(10_001)]);
    expect(info.code).toBe(2);
    expect(info.stderr).toContain('--additional-info is 10,001 characters, over the 10,000');
    expect(`${name.stderr}${info.stderr}`).not.toContain('rrrrrrrrrr');
    expect(`${name.stderr}${info.stderr}`).not.toContain('aaaaaaaaaa');
    expect(emulator.calls.filter((call) => call.operation === 'report')).toHaveLength(0);
    expect((await store.getRecord(id)).report).toEqual({ status: 'not-reported' });

    const atLimit = await run([
      '--reportee-name',
      'r'.repeat(1_000),
      '--additional-info',
      'a'.repeat(10_000),
    ]);
    expect(atLimit.code).toBe(0);
    expect(emulator.testReports.at(-1)?.body).toMatchObject({ ReporteeName: 'r'.repeat(1_000) });
  });
});
