/**
 * A report to NCMEC's test endpoint files nothing: after one, the real report of the same upload
 * must still go out (SPEC 2 `IsTest`; `lastSuccessfulReport`). Through `event.report()` of a real
 * guard on Express, the real PhotoDNA client and the emulator, from the bytes (policy 'block')
 * and from the quarantine record.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { GuardOptions, MatchEvent, ReporterInfo } from '../../src/index.js';
import { photodnaGuard } from '../../src/index.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { REPORTER } from '../helpers/reporter.js';

const emu = useEmulator();
const scratch = mkdtempSync(join(tmpdir(), 'pdg-test-and-real-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Uploads the known image to a guard whose `onMatch` is `onMatch`; answers the store dir. */
async function upload(
  policy: 'block' | 'quarantine',
  onMatch: (event: MatchEvent) => Promise<void>,
): Promise<string> {
  const dir = mkdtempSync(join(scratch, 'q-'));
  const options: GuardOptions = {
    policy,
    ...(policy === 'quarantine' ? { quarantine: { dir } } : {}),
    reporter: REPORTER,
    onMatch,
  };
  const app = express();
  app.use(photodnaGuard(emu.options(options)));
  app.post('/upload', (_req, res) => res.json({ ok: true }));
  const res = await request(app).post('/upload').attach('f', knownImage(), 'f.png');
  expect(res.status).toBe(422);
  return dir;
}

function record(dir: string) {
  const name = readdirSync(dir).find((n) => n.endsWith('.json'));
  return JSON.parse(readFileSync(join(dir, name as string), 'utf8'));
}

describe('event.report(): a test report does not stand for the real one', () => {
  it.each(['block', 'quarantine'] as const)(
    '%s: the real report still goes out after a test report',
    async (policy) => {
      const real = emu.emulator.reports.length;
      const test = emu.emulator.testReports.length;
      const trackingIds: string[] = [];
      const dir = await upload(policy, async (event) => {
        trackingIds.push((await event.report({ isTest: true })).trackingId);
        trackingIds.push((await event.report({ isTest: false })).trackingId);
        trackingIds.push((await event.report({ isTest: false })).trackingId); // the real one again
      });
      expect(emu.emulator.testReports.length - test).toBe(1);
      expect(emu.emulator.reports.length - real).toBe(1);
      expect(trackingIds[1]).toBe(emu.emulator.reports.at(-1)?.trackingId);
      expect(trackingIds[2]).toBe(trackingIds[1]);
      expect(trackingIds[1]).not.toBe(trackingIds[0]);
      if (policy === 'quarantine') {
        expect(record(dir).report).toMatchObject({ status: 'reported', isTest: false });
      }
    },
  );

  it('quarantine: a real report started with a test report in flight is sent, not answered by the test', async () => {
    const real = emu.emulator.reports.length;
    let answered = '';
    await upload('quarantine', async (event) => {
      const [, filed] = await Promise.all([
        event.report({ isTest: true }),
        event.report({ isTest: false }),
      ]);
      answered = filed.trackingId;
    });
    // (The test report may answer with the real one if that is filed first: a real report
    // stands for a test.)
    expect(emu.emulator.reports.length - real).toBe(1);
    expect(answered).toBe(emu.emulator.reports.at(-1)?.trackingId);
  });

  it.each(['block', 'quarantine'] as const)(
    '%s: an override left undefined keeps the configured value: a test guard never files a real report',
    async (policy) => {
      const real = emu.emulator.reports.length;
      const test = emu.emulator.testReports.length;
      const dir = await upload(policy, async (event) => {
        // A caller passing through a setting it does not have (`isTest: config.isTest`).
        await event.report({ isTest: undefined, reporterName: undefined });
      });
      // Before: `isTest: undefined` replaced the configured `true`, and NCMEC got a real report.
      expect(emu.emulator.reports.length - real).toBe(0);
      expect(emu.emulator.testReports.length - test).toBe(1);
      expect(emu.emulator.testReports.at(-1)?.body).toMatchObject({
        ReporterName: REPORTER.reporterName,
      });
      if (policy === 'quarantine') {
        expect(record(dir).report).toMatchObject({ status: 'reported', isTest: true });
      }
    },
  );

  it('a non-boolean isTest sends the report the record notes (a real one), never a test noted as real', async () => {
    const real = emu.emulator.reports.length;
    const test = emu.emulator.testReports.length;
    const dir = await upload('quarantine', async (event) => {
      // A JavaScript caller's string (from an environment variable): only `true` means a test.
      await event.report({ isTest: 'false' } as unknown as Partial<ReporterInfo>);
    });
    expect(emu.emulator.testReports.length - test).toBe(0);
    expect(emu.emulator.reports.length - real).toBe(1);
    expect(record(dir).report).toMatchObject({ status: 'reported', isTest: false });
  });
});
