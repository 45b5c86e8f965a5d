/**
 * `event.report()` with a field longer than the Report endpoint accepts: refused at once with a
 * `ReportFieldTooLongError`, and no request reaches the emulator (its call log says so); a field
 * at the limit is filed. Through a real guard on Express, the real PhotoDNA client and the
 * emulator on loopback, from the bytes (policy 'block') and from the quarantine record.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import type { GuardOptions, MatchEvent } from '../../src/index.js';
import { photodnaGuard } from '../../src/index.js';
import { ReportFieldTooLongError } from '../../src/report/field-limits.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { REPORTER } from '../helpers/reporter.js';

const emu = useEmulator();
const scratch = mkdtempSync(join(tmpdir(), 'pdg-field-limits-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const reportCalls = () => emu.emulator.calls.filter((call) => call.operation === 'report').length;

/** What `onMatch` saw: assertions run after the request (a throwing `onMatch` is only logged). */
interface Seen {
  before: number;
  refused: unknown[];
  afterRefused: number;
  recordAfterRefused?: unknown;
  filed?: { statusCode: number; trackingId: string };
  afterFiled: number;
}

describe('event.report(): over-long fields are refused before sending', () => {
  it.each(['block', 'quarantine'] as const)(
    '%s: one character over sends nothing; at the limit it is filed',
    async (policy) => {
      const dir = mkdtempSync(join(scratch, 'q-'));
      const seen: Seen = { before: -1, refused: [], afterRefused: -1, afterFiled: -1 };
      const warnings: Array<{ code: unknown; text: unknown }> = [];
      const quiet = () => undefined;
      const options: GuardOptions = {
        policy,
        ...(policy === 'quarantine' ? { quarantine: { dir } } : {}),
        reporter: REPORTER,
        logger: {
          debug: quiet,
          info: quiet,
          error: quiet,
          warn: (obj: unknown, text?: string) =>
            warnings.push({ code: (obj as { code?: unknown }).code, text }),
        },
        onMatch: async (event: MatchEvent) => {
          seen.before = reportCalls();
          for (const over of [
            { reporteeName: 'r'.repeat(1_001) },
            { additionalInfo: 'a'.repeat(10_001) },
          ]) {
            seen.refused.push(
              await event.report(over).then(
                () => 'sent',
                (error: unknown) => error,
              ),
            );
          }
          seen.afterRefused = reportCalls();
          if (policy === 'quarantine') seen.recordAfterRefused = record(dir).report;
          seen.filed = await event.report({
            reporteeName: 'r'.repeat(1_000),
            additionalInfo: 'a'.repeat(10_000),
          });
          seen.afterFiled = reportCalls();
        },
      };
      const app = express();
      app.use(photodnaGuard(emu.options(options)));
      app.post('/upload', (_req, res) => res.json({ ok: true }));
      const res = await request(app).post('/upload').attach('f', knownImage(), 'f.png');
      expect(res.status).toBe(422);

      expect(seen.before).toBeGreaterThanOrEqual(0);
      const [name, info] = seen.refused as ReportFieldTooLongError[];
      expect(name).toBeInstanceOf(ReportFieldTooLongError);
      expect(name?.paths).toEqual(['reporter.reporteeName']);
      expect(name?.message).toContain('over the 1,000 the Report endpoint accepts');
      expect(info).toBeInstanceOf(ReportFieldTooLongError);
      expect(info?.paths).toEqual(['reporter.additionalInfo']);
      expect(info?.message).toContain('over the 10,000 the Report endpoint accepts');
      expect(seen.afterRefused).toBe(seen.before); // no request reached the emulator
      // The host hears of it once, named, without the text.
      const warned = warnings.filter((w) => w.code === 'PHOTODNA_GUARD_REPORTER_FIELDS');
      expect(warned[0]?.text).toContain('reporter.reporteeName is 1,001 characters');
      expect(warned[0]?.text).toContain('Shorten them');
      expect(JSON.stringify(warnings)).not.toContain('rrrrrrrrrr');
      if (policy === 'quarantine') {
        expect(seen.recordAfterRefused).toEqual({ status: 'not-reported' }); // no failure noted
      }

      expect(seen.filed?.statusCode).toBe(3000);
      expect(seen.afterFiled).toBe(seen.before + 1);
      const received = emu.emulator.testReports.at(-1);
      expect(received?.trackingId).toBe(seen.filed?.trackingId);
      expect(received?.body).toMatchObject({ ReporteeName: 'r'.repeat(1_000) });
      if (policy === 'quarantine') {
        expect(record(dir).report).toMatchObject({ status: 'reported', isTest: true });
      }
    },
  );
});

function record(dir: string) {
  const name = readdirSync(dir).find((n) => n.endsWith('.json'));
  return JSON.parse(readFileSync(join(dir, name as string), 'utf8'));
}
