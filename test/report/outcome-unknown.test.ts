/**
 * A report whose outcome nobody knows: the request left and no answer said what became of it (a
 * timeout once the body was sent), or a reporter claimed the incident and never recorded an
 * outcome (it crashed, perhaps after sending). NCMEC may have the report: the record says so, and
 * no reporter sends it again unless told to. The real client, a real file store and the emulator
 * over loopback HTTP.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PhotoDnaClient } from '../../src/client/index.js';
import { startEmulator } from '../../src/emulator/index.js';
import type { Emulator } from '../../src/emulator/types.js';
import { PhotoDnaServiceError } from '../../src/errors.js';
import type { MatchEvent, ReportEvent } from '../../src/events.js';
import { photodnaGuard } from '../../src/index.js';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { reportQuarantined } from '../../src/report/from-record.js';
import { knownImage } from '../helpers/emulated.js';
import { REPORTER } from '../helpers/reporter.js';
import { makeIncident, useTempDirs } from '../quarantine/helpers.js';
import { cli } from '../quarantine/run-cli.js';

const tempDir = useTempDirs();
const INFO = { ...REPORTER, ncmecPassword: 'ncmec-pw-4q7r' };

let emulator: Emulator;
let client: PhotoDnaClient;
beforeEach(async () => {
  emulator = await startEmulator({ port: 0 });
  // The answer is late past the call's deadline: the report arrived, its answer never does.
  client = new PhotoDnaClient({
    apiKey: 'test-key',
    baseUrl: emulator.url,
    timeouts: { callMs: 300 },
  });
});
afterEach(async () => {
  emulator.setLatency(0);
  await client.close();
  await emulator.close();
});

async function quarantined() {
  const dir = await tempDir();
  const store = createFileQuarantineStore({ dir });
  const { incident, bytes } = makeIncident();
  await store.put(incident, bytes);
  return { dir, store, id: incident.id };
}

/** Files the report with the emulator answering `latencyMs` late; the call times out. */
async function timedOut(store: Awaited<ReturnType<typeof quarantined>>['store'], id: string) {
  emulator.setLatency(5_000);
  const error = await reportQuarantined({ store, id, sender: client, info: INFO }).catch(
    (thrown: unknown) => thrown,
  );
  emulator.setLatency(0);
  return error;
}

describe('a report that timed out after it was sent', () => {
  it('is recorded as failed with its outcome unknown, and not sent again unless told to', async () => {
    const { store, id } = await quarantined();
    const error = await timedOut(store, id);
    expect(error).toBeInstanceOf(PhotoDnaServiceError);
    expect(error).toMatchObject({ reason: 'timeout', outcomeUnknown: true });
    expect(emulator.testReports).toHaveLength(1); // NCMEC has it

    const record = await store.getRecord(id);
    expect(record.report).toMatchObject({ status: 'failed', outcomeUnknown: true, isTest: true });
    expect(record.report.error).toContain('callMs');
    expect(JSON.stringify(record)).not.toContain(INFO.ncmecPassword);

    // Asked again, nothing is sent: the refusal says why and how to send anyway.
    const refused = await reportQuarantined({ store, id, sender: client, info: INFO }).catch(
      (thrown: unknown) => thrown as Error,
    );
    expect(refused).toMatchObject({ name: 'ReportOutcomeUnknown', outcomeUnknown: true });
    expect((refused as Error).message).toMatch(/may have reached NCMEC.*resendUnknown/s);
    expect(emulator.testReports).toHaveLength(1);
    expect(await store.getRecord(id)).toEqual(record);

    // Told to, it sends again; the record then says reported.
    const resent = await reportQuarantined({
      store,
      id,
      sender: client,
      info: INFO,
      resendUnknown: true,
    });
    expect(resent.statusCode).toBe(3000);
    expect(emulator.testReports).toHaveLength(2);
    expect((await store.getRecord(id)).report).toMatchObject({
      status: 'reported',
      trackingId: resent.trackingId,
      isTest: true,
    });
  });

  it('a test report of unknown outcome does not hold back the real one (another kind)', async () => {
    const { store, id } = await quarantined();
    expect(await timedOut(store, id)).toMatchObject({ outcomeUnknown: true });
    const real = { ...INFO, isTest: false };
    const sent = await reportQuarantined({ store, id, sender: client, info: real });
    expect(sent.statusCode).toBe(3000);
    expect(emulator.reports).toHaveLength(1);
  });

  it('a refusal before sending (wrong key, 401) is a plain failure: the next report sends', async () => {
    const keyed = await startEmulator({ port: 0, apiKey: 'right-key' });
    const wrong = new PhotoDnaClient({ apiKey: 'wrong-key', baseUrl: keyed.url });
    const right = new PhotoDnaClient({ apiKey: 'right-key', baseUrl: keyed.url });
    try {
      const { store, id } = await quarantined();
      await expect(
        reportQuarantined({ store, id, sender: wrong, info: INFO }),
      ).rejects.toMatchObject({ httpStatus: 401, outcomeUnknown: false });
      const failed = (await store.getRecord(id)).report;
      expect(failed.status).toBe('failed');
      expect(failed.outcomeUnknown).toBeUndefined();
      const sent = await reportQuarantined({ store, id, sender: right, info: INFO });
      expect(sent.statusCode).toBe(3000);
      expect(keyed.testReports).toHaveLength(1);
    } finally {
      await wrong.close();
      await right.close();
      await keyed.close();
    }
  });
});

describe('photodna-guard quarantine report (built CLI) after a report that timed out once sent', () => {
  it('says NCMEC may have it (list too), sends nothing and exits 1; --force sends it', async () => {
    const { dir, store, id } = await quarantined();
    expect(await timedOut(store, id)).toMatchObject({ outcomeUnknown: true });
    const env = {
      PHOTODNA_API_KEY: 'test-key',
      PHOTODNA_BASE_URL: emulator.url,
      PHOTODNA_ORG_NAME: INFO.orgName,
      PHOTODNA_REPORTER_NAME: INFO.reporterName,
      PHOTODNA_REPORTER_EMAIL: INFO.reporterEmail,
      NCMEC_USER: INFO.ncmecUser,
      NCMEC_PASSWORD: INFO.ncmecPassword,
    };
    const list = await cli(['list', '--dir', dir], env);
    expect(list.stdout).toContain('failed (test); may have reached NCMEC');

    // Before: the CLI sent it again, saying nothing of the earlier attempt.
    const refused = await cli(['report', id, '--dir', dir, '--test'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/may have reached NCMEC already .*--force sends it anyway/);
    expect(refused.stderr).not.toContain(INFO.ncmecPassword);
    expect(emulator.testReports).toHaveLength(1);

    const forced = await cli(['report', id, '--dir', dir, '--test', '--force'], env);
    expect(forced.code).toBe(0);
    expect(emulator.testReports).toHaveLength(2);
    expect((await store.getRecord(id)).report).toMatchObject({ status: 'reported', isTest: true });
  });
});

describe('event.report() after a report that timed out once sent', () => {
  /** A guard on the emulator; answers its match event and the report events it emits. */
  async function matched(policy: 'block' | 'quarantine') {
    const reports: ReportEvent[] = [];
    let event: MatchEvent | undefined;
    const app = express();
    app.use(
      photodnaGuard({
        apiKey: 'test-key',
        baseUrl: emulator.url,
        client: { timeouts: { callMs: 300 } },
        policy,
        ...(policy === 'quarantine'
          ? { quarantine: { dir: await mkdtemp(join(await tempDir(), 'q-')) } }
          : {}),
        reporter: INFO,
        on: {
          match: (e) => {
            event = e;
          },
          report: (e) => reports.push(e),
          error: () => undefined,
        },
      }),
    );
    app.post('/upload', (_req, res) => res.json({ ok: true }));
    const res = await request(app).post('/upload').attach('f', knownImage(), 'f.png');
    expect(res.status).toBe(422);
    if (!event) throw new Error('no match event');
    return { event, reports };
  }

  it.each(['block', 'quarantine'] as const)(
    '%s: the report event says the outcome is unknown; a second call sends nothing unless forced',
    async (policy) => {
      const { event, reports } = await matched(policy);
      emulator.setLatency(5_000);
      await expect(event.report()).rejects.toMatchObject({ outcomeUnknown: true });
      emulator.setLatency(0);
      expect(emulator.testReports).toHaveLength(1);
      expect(reports).toEqual([
        { incident: event.id, route: '/upload', ok: false, outcomeUnknown: true },
      ]);

      await expect(event.report()).rejects.toMatchObject({
        name: 'ReportOutcomeUnknown',
        outcomeUnknown: true,
      });
      expect(emulator.testReports).toHaveLength(1);
      expect(reports.at(-1)).toMatchObject({ ok: false, outcomeUnknown: true });

      const forced = await event.report({}, { force: true });
      expect(forced.statusCode).toBe(3000);
      expect(emulator.testReports).toHaveLength(2);
      expect(reports.at(-1)).toEqual({
        incident: event.id,
        route: '/upload',
        ok: true,
        statusCode: 3000,
      });
    },
  );

  it('a refused report (3002) says its status code in the report event', async () => {
    const { event, reports } = await matched('block');
    await expect(event.report({ reporterEmail: 'not an email' })).rejects.toMatchObject({
      statusCode: 3002,
      outcomeUnknown: false,
    });
    expect(reports).toEqual([
      { incident: event.id, route: '/upload', ok: false, statusCode: 3002 },
    ]);
  });
});
