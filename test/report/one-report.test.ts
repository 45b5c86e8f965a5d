/**
 * One report per incident across reporters that do not share a store object: a guard's
 * `event.report()`, a console on the same directory, a reviewer's CLI in another process. The
 * file store's report claim makes the others wait for the report in flight; a claim whose holder
 * crashed expires, and leaves the incident's outcome unknown.
 */
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import type { FileQuarantineStore } from '../../src/quarantine/types.js';
import { type ReportSender, reportQuarantined } from '../../src/report/from-record.js';
import type { ReporterInfo, ReportResult } from '../../src/types.js';
import { REPORTER } from '../helpers/reporter.js';
import { until } from '../helpers/until.js';
import { makeIncident, useTempDirs } from '../quarantine/helpers.js';
import { cli } from '../quarantine/run-cli.js';

const tempDir = useTempDirs();
const INFO: ReporterInfo = { ...REPORTER, isTest: false };

/** A sender whose answers wait until the test opens the gate. */
class GatedSender implements ReportSender {
  sent = 0;
  #open: (() => void) | undefined;
  readonly #gate = new Promise<void>((resolve) => {
    this.#open = resolve;
  });

  async report(): Promise<ReportResult> {
    this.sent++;
    await this.#gate;
    return { trackingId: `t${this.sent}`, statusCode: 3000, raw: {} };
  }

  open(): void {
    this.#open?.();
  }
}

/**
 * The store, counting the claims it refused (another reporter held the incident) and the record
 * reads (a reporter waiting on a claim reads the record until it ends).
 */
function counting(store: FileQuarantineStore): {
  store: FileQuarantineStore;
  refused: () => number;
  reads: () => number;
} {
  let refused = 0;
  let reads = 0;
  const claimReport = store.claimReport.bind(store);
  const getRecord = store.getRecord.bind(store);
  return {
    store: {
      ...store,
      claimReport: async (id, claim) => {
        const outcome = await claimReport(id, claim);
        if (!outcome.held && Date.parse(claim.until) > Date.now()) refused++;
        return outcome;
      },
      getRecord: (id) => {
        reads++;
        return getRecord(id);
      },
    },
    refused: () => refused,
    reads: () => reads,
  };
}

/** The environment of `quarantine report` against the emulator at `baseUrl`, as INFO. */
function cliEnv(baseUrl: string): Record<string, string> {
  return {
    PHOTODNA_API_KEY: 'k',
    PHOTODNA_BASE_URL: baseUrl,
    PHOTODNA_ORG_NAME: INFO.orgName,
    PHOTODNA_REPORTER_NAME: INFO.reporterName,
    PHOTODNA_REPORTER_EMAIL: INFO.reporterEmail,
    NCMEC_USER: INFO.ncmecUser,
    NCMEC_PASSWORD: INFO.ncmecPassword,
  };
}

async function stored(dir: string) {
  const store = createFileQuarantineStore({ dir });
  const { incident, bytes } = makeIncident();
  await store.put(incident, bytes);
  return { store, id: incident.id };
}

describe('one report per incident across store objects and processes', () => {
  it('a second store object on the same directory waits for the report in flight, then answers with it', async () => {
    const dir = await tempDir();
    const { store: guardStore, id } = await stored(dir);
    const console = counting(createFileQuarantineStore({ dir }));
    const sender = new GatedSender();

    const first = reportQuarantined({ store: guardStore, id, sender, info: INFO });
    await until(() => sender.sent === 1, 'the first report sent');
    expect((await guardStore.getRecord(id)).reporting).toBeDefined();
    const second = reportQuarantined({ store: console.store, id, sender, info: INFO });
    await until(() => console.refused() > 0, 'the second reporter refused the claim');
    sender.open();

    const [a, b] = await Promise.all([first, second]);
    expect(sender.sent).toBe(1);
    expect(a.trackingId).toBe('t1');
    expect(b.trackingId).toBe('t1');
    const record = await guardStore.getRecord(id);
    expect(record.report).toMatchObject({ status: 'reported', trackingId: 't1' });
    expect(record.reportHistory).toBeUndefined();
    expect(record.reporting).toBeUndefined();
  });

  it('after a failed report in flight, the waiting reporter sends its own', async () => {
    const dir = await tempDir();
    const { store, id } = await stored(dir);
    const other = counting(createFileQuarantineStore({ dir }));
    let release: (() => void) | undefined;
    const failing: ReportSender = {
      report: () =>
        new Promise((_, reject) => {
          release = () => reject(new Error('connection reset'));
        }),
    };
    const sender = new GatedSender();
    sender.open();

    const first = reportQuarantined({ store, id, sender: failing, info: INFO });
    await until(() => release !== undefined, 'the first report sent');
    const second = reportQuarantined({ store: other.store, id, sender, info: INFO });
    await until(() => other.refused() > 0, 'the second reporter refused the claim');
    release?.();

    await expect(first).rejects.toThrow('connection reset');
    expect((await second).trackingId).toBe('t1');
    const record = await store.getRecord(id);
    expect(record.report).toMatchObject({ status: 'reported', trackingId: 't1' });
    expect(record.reportHistory?.map((entry) => entry.status)).toEqual(['failed']);
  });

  it("a crashed reporter's claim holds until it expires; then nobody sends unless told to (it may have sent)", async () => {
    const dir = await tempDir();
    const { store, id } = await stored(dir);
    const soon = new Date(Date.now() + 1_500).toISOString();
    expect((await store.claimReport(id, { token: 'crashed', until: soon })).held).toBe(true);
    const sender = new GatedSender();
    sender.open();
    const watched = counting(store);

    const report = reportQuarantined({ store: watched.store, id, sender, info: INFO });
    await until(() => watched.refused() > 0, 'the claim refused while it holds');
    expect(sender.sent).toBe(0);
    // Before: once the claim expired, the report went out, though the crashed reporter may have
    // sent one already.
    await expect(report).rejects.toMatchObject({
      name: 'ReportOutcomeUnknown',
      message: expect.stringContaining('never recorded an outcome'),
    });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(soon));
    expect(sender.sent).toBe(0);
    // The abandoned claim stays in the record, for a moderator to see (and resolve).
    expect((await store.getRecord(id)).reporting?.token).toBe('crashed');

    const resent = await reportQuarantined({ store, id, sender, info: INFO, resendUnknown: true });
    expect(resent.trackingId).toBe('t1');
    expect(sender.sent).toBe(1);
    expect((await store.getRecord(id)).reporting).toBeUndefined();
  });

  it('a report sent whose record could not be updated keeps its claim: nobody sends a second; this process notes it later', async () => {
    const dir = await tempDir();
    const { store: base, id } = await stored(dir);
    // The first reporter's store fails to record the outcome (a full disk, say).
    const failing: FileQuarantineStore = {
      ...base,
      claimReport: base.claimReport.bind(base),
      markReported: async () => {
        throw new Error('ENOSPC: no space left on device');
      },
    };
    const sender = new GatedSender();
    const first = reportQuarantined({ store: failing, id, sender, info: INFO });
    await until(() => sender.sent === 1, 'the first report sent');
    const other = counting(createFileQuarantineStore({ dir }));
    const abort = new AbortController();
    const second = reportQuarantined({
      store: other.store,
      id,
      sender,
      info: INFO,
      signal: abort.signal,
    });
    await until(() => other.refused() > 0, 'the second reporter waiting');
    sender.open();
    await expect(first).rejects.toThrow('could not be updated');
    // The claim still holds: the second reporter cannot send, however long it waits.
    expect((await base.getRecord(id)).reporting).toBeDefined();
    const readsBefore = other.reads();
    await until(() => other.reads() >= readsBefore + 3, 'the second reporter still waiting');
    expect(sender.sent).toBe(1);
    abort.abort();
    await expect(second).rejects.toThrow();
    // Once the store works again, this process notes the report it sent: no second one.
    const noted = await reportQuarantined({ store: base, id, sender, info: INFO });
    expect(noted.trackingId).toBe('t1');
    expect(sender.sent).toBe(1);
    const record = await base.getRecord(id);
    expect(record.report).toMatchObject({ status: 'reported', trackingId: 't1' });
    expect(record.reporting).toBeUndefined();
  });

  it('a claim is given back only by its own token, and is ended by the recorded outcome', async () => {
    const dir = await tempDir();
    const { store, id } = await stored(dir);
    const later = new Date(Date.now() + 60_000).toISOString();
    const past = new Date(0).toISOString();
    expect((await store.claimReport(id, { token: 'a', until: later })).held).toBe(true);
    expect((await store.claimReport(id, { token: 'b', until: later })).held).toBe(false);
    expect((await store.claimReport(id, { token: 'b', until: past })).record.reporting?.token).toBe(
      'a',
    );
    expect(
      (await store.claimReport(id, { token: 'a', until: past })).record.reporting,
    ).toBeUndefined();
    expect((await store.claimReport(id, { token: 'b', until: later })).held).toBe(true);
    await store.markReported(id, { status: 'failed', error: 'x' });
    expect((await store.getRecord(id)).reporting).toBeUndefined();
    expect((await store.claimReport(id, { token: 'a', until: later })).held).toBe(true);
  });

  it('an incident released as a false positive is not reported unless forced (API and CLI), as the console refuses it', async () => {
    const emulator = await startEmulator({ rateLimit: false });
    try {
      const dir = await tempDir();
      const { store, id } = await stored(dir);
      await store.release(id, 'false positive');
      const before = await store.getRecord(id);
      const sender = new GatedSender();
      sender.open();

      const refused = await reportQuarantined({ store, id, sender, info: INFO }).catch(
        (error: Error) => error,
      );
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(/released as a false positive/);
      const env = cliEnv(emulator.url);
      const run = await cli(['report', id, '--dir', dir], env);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/released as a false positive/);
      expect([sender.sent, emulator.reports.length]).toEqual([0, 0]);
      expect(await store.getRecord(id)).toEqual(before); // nothing recorded

      const forced = await cli(['report', id, '--dir', dir, '--force'], env);
      expect(forced.code).toBe(0);
      expect(emulator.reports.length).toBe(1);
      expect((await store.getRecord(id)).report).toMatchObject({ status: 'reported' });
    } finally {
      await emulator.close();
    }
  });

  it('a purge in another process keeps an expired, released incident while its report is in flight', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir, preserveDays: 10 });
    const { incident, bytes } = makeIncident({ receivedAt: new Date('2020-01-01T00:00:00Z') });
    await store.put(incident, bytes);
    const { id } = incident;
    await store.release(id, 'false positive'); // later judged reportable after all
    const sender = new GatedSender();

    // Reporting a released incident takes `force` (a reviewer overriding the release).
    const report = reportQuarantined({ store, id, sender, info: INFO, force: true });
    await until(() => sender.sent === 1, 'the report sent');
    const purge = await cli(['purge', '--dir', dir]);
    sender.open();
    const outcome = await report.catch((error: Error) => error);

    expect(purge.code).toBe(0);
    expect(purge.stdout).toContain(`kept ${id} (a report is being sent)`);
    expect(outcome).toMatchObject({ trackingId: 't1' });
    const kept = await store.get(id);
    expect(kept.bytes).toEqual(bytes);
    expect(kept.record.report).toMatchObject({ status: 'reported', trackingId: 't1' });
    expect(Date.parse(kept.record.preserveUntil)).toBeGreaterThan(Date.now());
  });

  it('a reviewer runs `quarantine report` in another process while the server reports: one report', async () => {
    const emulator = await startEmulator({ latencyMs: 1_000, rateLimit: false });
    try {
      const dir = await tempDir();
      const { store, id } = await stored(dir);
      const env = cliEnv(emulator.url);
      const reviewer = cli(['report', id, '--dir', dir], env);
      await until(
        async () => (await store.getRecord(id)).reporting !== undefined,
        "the reviewer's claim",
      );
      const sender = new GatedSender();
      sender.open();
      const server = await reportQuarantined({ store, id, sender, info: INFO });

      const run = await reviewer;
      expect(run.code).toBe(0);
      expect(sender.sent).toBe(0);
      expect(emulator.reports.length).toBe(1);
      const record = await store.getRecord(id);
      expect(server.trackingId).toBe(record.report.trackingId);
      expect(record.reportHistory).toBeUndefined();
    } finally {
      await emulator.close();
    }
  });
});
