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
