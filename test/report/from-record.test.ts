/**
 * reportQuarantined against a real file store, with a small in-process sender standing in for the
 * network (the end-to-end run against the emulator and the real client is in report-e2e.test.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../src/errors.js';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import { type ReportSender, reportQuarantined } from '../../src/report/from-record.js';
import type { NcmecCredentials, ReportBody, ReporterInfo, ReportResult } from '../../src/types.js';
import { REPORTER } from '../helpers/reporter.js';
import { makeIncident, useTempDirs } from '../quarantine/helpers.js';

const tempDir = useTempDirs();
const INFO: ReporterInfo = REPORTER;

/** Answers each report with the next answer (a result, or an error to throw). */
class ScriptedSender implements ReportSender {
  readonly sent: Array<{ body: ReportBody; credentials: NcmecCredentials }> = [];
  constructor(private readonly answers: Array<ReportResult | Error>) {}

  async report(body: ReportBody, credentials: NcmecCredentials): Promise<ReportResult> {
    this.sent.push({ body, credentials });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const answer = this.answers.shift() ?? new Error('no more answers');
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

const ok = (trackingId: string): ReportResult => ({
  trackingId,
  statusCode: 3000,
  description: 'OK',
  raw: { TrackingId: trackingId, Status: { Code: 3000, Description: 'OK' } },
});

async function setup() {
  const store = createFileQuarantineStore({ dir: await tempDir() });
  const { incident, bytes } = makeIncident();
  await store.put(incident, bytes);
  return { store, id: incident.id, bytes };
}

describe('reportQuarantined', () => {
  it('sends once, records the outcome, then returns the stored result; force sends again', async () => {
    const { store, id, bytes } = await setup();
    const sender = new ScriptedSender([ok('first'), ok('second')]);

    const first = await reportQuarantined({ store, id, sender, info: INFO });
    expect(first).toEqual(ok('first'));
    expect(sender.sent).toHaveLength(1);
    expect(sender.sent[0]?.credentials).toEqual({
      ncmecUser: 'esp-user',
      ncmecPassword: 'esp-secret',
    });
    const content = sender.sent[0]?.body.ViolationContentCollection[0];
    expect(content?.Value).toBe(bytes.toString('base64'));
    expect(content?.UploadIpAddress).toBe('203.0.113.7');
    expect(sender.sent[0]?.body.IncidentTime).toBe('2025-03-01T12:00:00.000Z');
    expect(sender.sent[0]?.body.AdditionalMetadata).toEqual([{ Key: 'IsTest', Value: 'true' }]);

    const record = await store.getRecord(id);
    expect(record.report).toMatchObject({
      status: 'reported',
      trackingId: 'first',
      statusCode: 3000,
      description: 'OK',
      isTest: true,
    });

    const again = await reportQuarantined({ store, id, sender, info: INFO });
    expect(sender.sent).toHaveLength(1);
    expect(again).toEqual({
      trackingId: 'first',
      statusCode: 3000,
      description: 'OK',
      raw: record.report,
    });

    const forced = await reportQuarantined({ store, id, sender, info: INFO, force: true });
    expect(forced.trackingId).toBe('second');
    expect(sender.sent).toHaveLength(2);
    const after = await store.getRecord(id);
    expect(after.report.trackingId).toBe('second');
    expect(after.reportHistory?.map((r) => r.trackingId)).toEqual(['first']);
  });

  it("a test-endpoint report files nothing: the real report is still sent, and a real one isn't repeated by a test", async () => {
    const { store, id } = await setup();
    const sender = new ScriptedSender([ok('test-1'), ok('real-1')]);
    await reportQuarantined({ store, id, sender, info: INFO });
    const real = await reportQuarantined({ store, id, sender, info: { ...INFO, isTest: false } });
    expect(real.trackingId).toBe('real-1');
    expect(sender.sent).toHaveLength(2);
    expect(sender.sent[1]?.body.AdditionalMetadata).toBeUndefined();
    // Filed for real: neither a test nor a real report sends it again (without force).
    const test = await reportQuarantined({ store, id, sender, info: INFO });
    const again = await reportQuarantined({ store, id, sender, info: { ...INFO, isTest: false } });
    expect([test.trackingId, again.trackingId]).toEqual(['real-1', 'real-1']);
    expect(sender.sent).toHaveLength(2);
  });

  it('shares one send between concurrent calls for one incident', async () => {
    const { store, id } = await setup();
    const sender = new ScriptedSender([ok('only')]);
    const results = await Promise.all(
      [1, 2, 3].map(() => reportQuarantined({ store, id, sender, info: INFO })),
    );
    expect(sender.sent).toHaveLength(1);
    expect(results.map((r) => r.trackingId)).toEqual(['only', 'only', 'only']);
  });

  it('records a failure without credentials, rethrows it, and tries again next time', async () => {
    const { store, id } = await setup();
    const failure = new Error('401 for user esp-user with password esp-secret');
    const sender = new ScriptedSender([failure, ok('retry')]);
    await expect(reportQuarantined({ store, id, sender, info: INFO })).rejects.toBe(failure);
    const failed = await store.getRecord(id);
    expect(failed.report.status).toBe('failed');
    expect(failed.report.error).toBe('401 for user [redacted] with password [redacted]');
    expect(JSON.stringify(failed)).not.toContain('esp-secret');

    expect((await reportQuarantined({ store, id, sender, info: INFO })).trackingId).toBe('retry');
    expect(sender.sent).toHaveLength(2);
    expect((await store.getRecord(id)).reportHistory?.[0]?.status).toBe('failed');
  });

  it('treats a non-3000 answer as a failure', async () => {
    const { store, id } = await setup();
    const sender = new ScriptedSender([{ trackingId: 't', statusCode: 3002, raw: {} }]);
    await expect(reportQuarantined({ store, id, sender, info: INFO })).rejects.toThrow(
      /status 3002/,
    );
    expect((await store.getRecord(id)).report).toMatchObject({
      status: 'failed',
      statusCode: 3002,
    });
  });

  it('sends nothing for tampered evidence or incomplete reporter details', async () => {
    const dir = await tempDir();
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident();
    await store.put(incident, bytes);
    const sender = new ScriptedSender([ok('never')]);
    await expect(
      reportQuarantined({ store, id: incident.id, sender, info: { ...INFO, ncmecPassword: '' } }),
    ).rejects.toThrow(InvalidOptionsError);
    await writeFile(join(dir, `${incident.id}.png`), Buffer.concat([bytes, Buffer.from([0])]));
    await expect(reportQuarantined({ store, id: incident.id, sender, info: INFO })).rejects.toThrow(
      /integrity check failed/,
    );
    expect(sender.sent).toHaveLength(0);
    expect((await store.getRecord(incident.id)).report.status).toBe('not-reported');
  });
});
