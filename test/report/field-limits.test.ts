/**
 * Report fields past what the service accepts are refused before sending, naming the field and
 * its limit, never the text; the limits and the measure (Unicode code points, OrgName and
 * ReporterName trimmed) are the emulator's, checked against its own body schema.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportBodySchema } from '../../src/emulator/report.js';
import { InvalidOptionsError } from '../../src/errors.js';
import { photodnaGuard } from '../../src/index.js';
import { createScanWorker } from '../../src/queue/index.js';
import { buildReportBody, type ReportSubject } from '../../src/report/body.js';
import { ReportFieldTooLongError } from '../../src/report/field-limits.js';
import type { ReportBody, ReporterInfo } from '../../src/types.js';
import { png } from '../fixtures/images.js';
import { REPORTER_DETAILS } from '../helpers/reporter.js';
import { factsOf } from '../quarantine/helpers.js';

const INFO = REPORTER_DETAILS;

function subject(ip = '198.51.100.4'): ReportSubject {
  const bytes = png();
  return { bytes, file: factsOf(bytes), ip, receivedAt: new Date('2025-03-01T12:00:00Z') };
}

/** Where each field lands in the body, to check the emulator's answer on the same text. */
const PLACE: Record<string, (body: ReportBody, value: string) => void> = {
  orgName: (body, value) => {
    body.OrgName = value;
  },
  reporterName: (body, value) => {
    body.ReporterName = value;
  },
  reporteeName: (body, value) => {
    body.ReporteeName = value;
  },
  additionalInfo: (body, value) => {
    const meta = body.ViolationContentCollection[0]?.AdditionalMetadata ?? [];
    const entry = meta.find((m) => m.Key === 'additionalInfo');
    if (entry) entry.Value = value;
    else meta.push({ Key: 'additionalInfo', Value: value });
  },
};

const emulatorAccepts = (body: ReportBody) => reportBodySchema.safeParse(body).success;

function refusal(info: ReporterInfo, ip?: string): ReportFieldTooLongError {
  try {
    buildReportBody(subject(ip), info);
  } catch (error) {
    if (error instanceof ReportFieldTooLongError) return error;
    throw error;
  }
  throw new Error('the report body was built');
}

describe('report field limits', () => {
  it.each([
    ['orgName', 1_000],
    ['reporterName', 1_000],
    ['reporteeName', 1_000],
    ['additionalInfo', 10_000],
  ] as const)(
    '%s: %i characters are sent, one more is refused naming the field and limit',
    (field, limit) => {
      const atLimit = 'x'.repeat(limit);
      const body = buildReportBody(subject(), { ...INFO, [field]: atLimit });
      expect(emulatorAccepts(body)).toBe(true);

      const over = `${'x'.repeat(limit)}y`;
      const error = refusal({ ...INFO, [field]: over });
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.name).toBe('ReportFieldTooLongError');
      expect(error.paths).toEqual([`reporter.${field}`]);
      expect(error.fields).toEqual([{ field, length: limit + 1, limit, added: 0 }]);
      const n = (v: number) => v.toLocaleString('en-US');
      expect(error.message).toBe(
        `report not sent: reporter.${field} is ${n(limit + 1)} characters, over the ${n(limit)} the Report endpoint accepts`,
      );
      expect(error.message).not.toContain('xxxxxxxxxx'); // the text itself is never echoed
      // The emulator refuses the same text.
      PLACE[field]?.(body, over);
      expect(emulatorAccepts(body)).toBe(false);
    },
  );

  it('counts Unicode code points, as the service does (an emoji is one, not two)', () => {
    const emoji = '\u{1F600}';
    const body = buildReportBody(subject(), { ...INFO, reporteeName: emoji.repeat(1_000) });
    expect(body.ReporteeName).toHaveLength(2_000); // UTF-16 units
    expect(emulatorAccepts(body)).toBe(true);

    const error = refusal({ ...INFO, reporteeName: emoji.repeat(1_001) });
    expect(error.fields).toEqual([
      { field: 'reporteeName', length: 1_001, limit: 1_000, added: 0 },
    ]);
    PLACE.reporteeName?.(body, emoji.repeat(1_001));
    expect(emulatorAccepts(body)).toBe(false);
  });

  it('measures orgName and reporterName without surrounding whitespace, as the service trims them', () => {
    const padded = `  ${'x'.repeat(1_000)}\n`;
    const body = buildReportBody(subject(), { ...INFO, orgName: padded, reporterName: padded });
    expect(emulatorAccepts(body)).toBe(true);
    // ReporteeName is not trimmed by the service: the same text is one too many there.
    expect(refusal({ ...INFO, reporteeName: `${'x'.repeat(1_000)} ` }).paths).toEqual([
      'reporter.reporteeName',
    ]);
  });

  it('names every field past its limit at once', () => {
    const error = refusal({
      ...INFO,
      reporteeName: 'x'.repeat(1_001),
      additionalInfo: 'x'.repeat(10_001),
    });
    expect(error.paths).toEqual(['reporter.reporteeName', 'reporter.additionalInfo']);
  });

  it("counts the guard's note about an unknown uploader IP against additionalInfo", () => {
    const atLimit = 'x'.repeat(10_000);
    const body = buildReportBody(subject(), { ...INFO, additionalInfo: atLimit });
    expect(emulatorAccepts(body)).toBe(true);
    // Unknown IP: the note joins the text, and the whole would be refused by the service.
    const error = refusal({ ...INFO, additionalInfo: atLimit }, 'not-an-ip');
    const note = ' The uploader IP address is unknown (no valid IP was recorded).';
    expect(error.fields).toEqual([
      { field: 'additionalInfo', length: 10_000 + note.length, limit: 10_000, added: note.length },
    ]);
    expect(error.message).toContain(
      `${note.length} of them the guard's note that the uploader's IP address is unknown`,
    );
    PLACE.additionalInfo?.(body, `${atLimit}${note}`);
    expect(emulatorAccepts(body)).toBe(false);
  });

  it('photodnaGuard refuses a reporter default past a limit: every report would be refused', () => {
    const reporter = { ...INFO, orgName: 'x'.repeat(1_001), reporteeName: 'x'.repeat(1_000) };
    expect(() => photodnaGuard({ apiKey: 'k', reporter })).toThrow(
      expect.objectContaining({
        name: 'InvalidOptionsError',
        paths: ['reporter.orgName'],
        message: expect.stringContaining(
          "option 'reporter.orgName': it is 1,001 characters, over the 1,000 the Report endpoint accepts",
        ),
      }),
    );
  });

  it('createScanWorker refuses one too, before it opens its queue', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'pdg-worker-limits-')), 'queue');
    try {
      const reporter = {
        ...INFO,
        reporterName: 'x'.repeat(1_001),
        reporteeName: 'y'.repeat(1_001),
      };
      await expect(createScanWorker({ queue: { dir }, apiKey: 'k', reporter })).rejects.toThrow(
        expect.objectContaining({
          name: 'InvalidOptionsError',
          paths: ['reporter.reporterName', 'reporter.reporteeName'],
          message:
            'createScanWorker: reporter.reporterName is 1,001 characters, over the 1,000 the Report endpoint accepts; reporter.reporteeName is 1,001 characters, over the 1,000 the Report endpoint accepts',
        }),
      );
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  });
});
