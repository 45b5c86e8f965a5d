import { describe, expect, it } from 'vitest';
import { testImages } from '../../src/emulator/index.js';
import { png } from '../fixtures/images.js';
import { call, emulator, PATHS, postJson } from './helpers.js';

const CREDENTIALS = { 'x-usr': 'ncmec-user', 'x-pwd': 'ncmec-secret-password' };
const imageBase64 = testImages()[0]?.bytes.toString('base64') ?? '';

function reportBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    OrgName: 'Example Forum',
    ReporterName: 'Trust & Safety',
    ReporterEmail: 'safety@example.com',
    IncidentTime: '2024-05-01T12:00:00Z',
    ReporteeName: 'uploader-42',
    ReporteeIPAddress: '203.0.113.7',
    ViolationContentCollection: [
      {
        Name: 'upload.png',
        Value: imageBase64,
        Location: { Latitude: 1.5, Longitude: 2.5, Altitude: 0 },
        UploadIpAddress: '203.0.113.7',
        UploadDateTime: '2024-05-01T11:59:00Z',
        AdditionalMetadata: [
          { Key: 'viewedByEsp', Value: 'false' },
          { Key: 'publiclyAvailable', Value: 'false' },
        ],
      },
    ],
    ...overrides,
  };
}

const TEST_METADATA = { AdditionalMetadata: [{ Key: 'IsTest', Value: 'true' }] };

describe('Report', () => {
  it('accepts a valid report, answers 3000 with a TrackingId and records it without the password', async () => {
    const emu = await emulator();
    const answer = await postJson(emu, PATHS.report, reportBody(), CREDENTIALS);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      Status: { Code: 3000, Description: 'OK', Exception: null },
      TrackingId: expect.stringMatching(/^1_photodna_/),
    });
    expect(emu.reports).toHaveLength(1);
    expect(emu.testReports).toHaveLength(0);
    const [report] = emu.reports;
    expect(report).toMatchObject({
      trackingId: answer.json.TrackingId,
      ncmecUser: 'ncmec-user',
      ncmecPasswordPresent: true,
      isTest: false,
      body: reportBody(),
    });
    expect(report?.receivedAt).toBeInstanceOf(Date);
    expect(JSON.stringify(emu.reports)).not.toContain('ncmec-secret-password');
    expect(JSON.stringify(emu.calls)).not.toContain('ncmec-secret-password');
    expect(emu.calls).toMatchObject([{ operation: 'report', httpStatus: 200, statusCode: 3000 }]);
  });

  it('keeps IsTest=true reports apart', async () => {
    const emu = await emulator();
    await postJson(emu, PATHS.report, reportBody(TEST_METADATA), CREDENTIALS);
    await postJson(
      emu,
      PATHS.report,
      reportBody({ AdditionalMetadata: [{ Key: 'IsTest', Value: 'false' }] }),
      CREDENTIALS,
    );
    await postJson(emu, PATHS.report, reportBody(), CREDENTIALS);
    expect(emu.testReports).toHaveLength(1);
    expect(emu.testReports[0]?.isTest).toBe(true);
    expect(emu.reports).toHaveLength(2);
  });

  it("accepts the service documentation's date form and string coordinates", async () => {
    const emu = await emulator();
    const body = reportBody({ IncidentTime: '9/10/2014 9:08:14 PM' });
    const [file] = body.ViolationContentCollection as Array<Record<string, unknown>>;
    if (!file) throw new Error('no file in the report body');
    file.Location = { Latitude: '', Longitude: '', Altitude: '' };
    expect((await postJson(emu, PATHS.report, body, CREDENTIALS)).json.Status.Code).toBe(3000);
  });

  it('answers 3002 without the x-usr or x-pwd header, and records nothing', async () => {
    const emu = await emulator();
    const noUser = await postJson(emu, PATHS.report, reportBody(), { 'x-pwd': 'p' });
    const noPassword = await postJson(emu, PATHS.report, reportBody(), { 'x-usr': 'u' });
    for (const answer of [noUser, noPassword]) {
      expect(answer.status).toBe(200);
      expect(answer.json.Status.Code).toBe(3002);
      expect(answer.json.TrackingId).toMatch(/^1_photodna_/);
    }
    expect(emu.reports).toHaveLength(0);
  });

  const invalid: Array<[string, Record<string, unknown>]> = [
    ['a missing OrgName', { OrgName: undefined }],
    ['an empty ReporterName', { ReporterName: ' ' }],
    ['an invalid ReporterEmail', { ReporterEmail: 'not-an-email' }],
    ['an invalid IncidentTime', { IncidentTime: 'yesterday-ish' }],
    ['a missing ReporteeName', { ReporteeName: undefined }],
    ['an invalid ReporteeIPAddress', { ReporteeIPAddress: '999.1.1.1' }],
    ['no ViolationContentCollection', { ViolationContentCollection: undefined }],
    ['an empty ViolationContentCollection', { ViolationContentCollection: [] }],
    [
      'a Value that is not base64',
      { ViolationContentCollection: [{ Name: 'a.png', Value: 'not base64!' }] },
    ],
    ['a file without a Name', { ViolationContentCollection: [{ Value: imageBase64 }] }],
    [
      'an unknown file metadata key',
      {
        ViolationContentCollection: [
          { Name: 'a.png', Value: imageBase64, AdditionalMetadata: [{ Key: 'nope', Value: 'x' }] },
        ],
      },
    ],
    ['a non-array AdditionalMetadata', { AdditionalMetadata: { IsTest: 'true' } }],
  ];
  for (const [what, overrides] of invalid) {
    it(`answers 3002 for ${what}`, async () => {
      const emu = await emulator();
      const answer = await postJson(emu, PATHS.report, reportBody(overrides), CREDENTIALS);
      expect(answer.status).toBe(200);
      expect(answer.json.Status.Code).toBe(3002);
      expect(emu.reports).toHaveLength(0);
      expect(emu.testReports).toHaveLength(0);
    });
  }

  it('answers 3002 for a body that is not JSON, or not application/json', async () => {
    const emu = await emulator();
    const notJson = await call(emu, PATHS.report, {
      body: '{"OrgName":',
      contentType: 'application/json',
      headers: CREDENTIALS,
    });
    expect(notJson.json.Status.Code).toBe(3002);
    const wrongType = await call(emu, PATHS.report, {
      body: JSON.stringify(reportBody()),
      contentType: 'text/plain',
      headers: CREDENTIALS,
    });
    expect(wrongType.json.Status.Code).toBe(3002);
  });
});

describe('Report under real sizes and floods (issue 11, class 11)', () => {
  it('crash: a report of a 4 MiB image (~5.6 MB of base64) is accepted, not a 500', async () => {
    const emu = await emulator();
    const big = png(200, 200, 3, 4 * 1024 * 1024).toString('base64');
    const body = reportBody({
      ViolationContentCollection: [{ Name: 'big.png', Value: big }],
    });
    const answer = await postJson(emu, PATHS.report, body, CREDENTIALS);
    expect(answer.status).toBe(200);
    expect(answer.json.Status.Code).toBe(3000);
    expect(emu.reports).toHaveLength(1);
  });

  it('crash: base64 that is not strictly base64 is still 3002, whatever its length', async () => {
    const emu = await emulator();
    for (const value of ['abc', 'ab=c', `${'A'.repeat(4_000_000)}*AAA`, 'AAA==A==']) {
      const body = reportBody({ ViolationContentCollection: [{ Name: 'x.png', Value: value }] });
      const answer = await postJson(emu, PATHS.report, body, CREDENTIALS);
      expect(answer.json.Status.Code, value.slice(0, 10)).toBe(3002);
    }
  });

  it('memory: a flood of reports keeps at most reportLog.max, images past maxImageChars summarised', async () => {
    const emu = await emulator({ reportLog: { max: 3, maxImageChars: 1000 } });
    const small = imageBase64.slice(0, 800);
    const big = Buffer.alloc(300_000, 7).toString('base64');
    for (let i = 0; i < 6; i++) {
      const body = reportBody({
        ReporteeName: `u${i}`,
        ViolationContentCollection: [
          { Name: 'a.png', Value: small },
          { Name: 'b.png', Value: big },
        ],
      });
      expect((await postJson(emu, PATHS.report, body, CREDENTIALS)).json.Status.Code).toBe(3000);
    }
    expect(emu.reports.map((r) => (r.body as { ReporteeName: string }).ReporteeName)).toEqual([
      'u3',
      'u4',
      'u5',
    ]);
    type Kept = { ViolationContentCollection: Array<{ Value: string }> };
    const kept = (emu.reports[2]?.body as Kept | undefined)?.ViolationContentCollection ?? [];
    expect(kept[0]?.Value).toBe(small);
    expect(kept[1]?.Value).toMatch(
      /^\[not kept: 400000 base64 characters, sha256 of the text [0-9a-f]{64}\]$/,
    );
  });
});
