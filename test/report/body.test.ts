import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../src/errors.js';
import {
  buildReportBody,
  credentialsOf,
  missingReporterFields,
  type ReportSubject,
} from '../../src/report/body.js';
import { gif, png } from '../fixtures/images.js';
import { REPORTER_DETAILS } from '../helpers/reporter.js';
import { factsOf, sha256 } from '../quarantine/helpers.js';

const INFO = REPORTER_DETAILS;

function subject(bytes = png(), overrides: Partial<ReportSubject> = {}): ReportSubject {
  return {
    bytes,
    file: factsOf(bytes, { originalname: '../../etc/passwd.png' }),
    ip: '198.51.100.4',
    receivedAt: new Date('2025-03-01T12:34:56.789Z'),
    ...overrides,
  };
}

describe('buildReportBody', () => {
  it('fills every SPEC section 2 field from the upload and the reporter', () => {
    const s = subject();
    const body = buildReportBody(s, INFO);
    expect(body).toStrictEqual({
      OrgName: 'Example Forum',
      ReporterName: 'Trust & Safety',
      ReporterEmail: 'tns@example.com',
      IncidentTime: '2025-03-01T12:34:56.789Z',
      ReporteeName: 'unknown',
      ReporteeIPAddress: '198.51.100.4',
      ViolationContentCollection: [
        {
          Name: `${sha256(s.bytes)}.png`,
          Value: s.bytes.toString('base64'),
          UploadIpAddress: '198.51.100.4',
          UploadDateTime: '2025-03-01T12:34:56.789Z',
          AdditionalMetadata: [
            { Key: 'viewedByEsp', Value: 'false' },
            { Key: 'publiclyAvailable', Value: 'false' },
          ],
        },
      ],
    });
    expect(Buffer.from(body.ViolationContentCollection[0]?.Value ?? '', 'base64')).toEqual(s.bytes);
  });

  it('never sends credentials or the client file name in the body', () => {
    const text = JSON.stringify(buildReportBody(subject(), INFO));
    expect(text).not.toContain('esp-secret');
    expect(text).not.toContain('esp-user');
    expect(text).not.toContain('passwd');
  });

  it('adds IsTest, reportee, publiclyAvailable and additionalInfo when given', () => {
    const body = buildReportBody(subject(), {
      ...INFO,
      isTest: true,
      reporteeName: 'user-4711',
      reporteeIpAddress: '192.0.2.55',
      publiclyAvailable: true,
      additionalInfo: 'uploaded as a profile picture',
    });
    expect(body.AdditionalMetadata).toEqual([{ Key: 'IsTest', Value: 'true' }]);
    expect(body.ReporteeName).toBe('user-4711');
    expect(body.ReporteeIPAddress).toBe('192.0.2.55');
    const content = body.ViolationContentCollection[0];
    expect(content?.UploadIpAddress).toBe('198.51.100.4');
    expect(content?.AdditionalMetadata).toEqual([
      { Key: 'viewedByEsp', Value: 'false' },
      { Key: 'publiclyAvailable', Value: 'true' },
      { Key: 'additionalInfo', Value: 'uploaded as a profile picture' },
    ]);
  });

  it('leaves IsTest out unless asked', () => {
    expect('AdditionalMetadata' in buildReportBody(subject(), { ...INFO, isTest: false })).toBe(
      false,
    );
  });

  it('names the content after the bytes and the sniffed type', () => {
    const bytes = gif();
    const body = buildReportBody(
      subject(bytes, { file: factsOf(bytes, { originalname: 'x.png' }, 'image/gif') }),
      INFO,
    );
    expect(body.ViolationContentCollection[0]?.Name).toBe(`${sha256(bytes)}.gif`);
  });

  it('works on a slice of a larger buffer', () => {
    const bytes = png();
    const pool = Buffer.concat([Buffer.from('junk-before'), bytes, Buffer.from('junk-after')]);
    const slice = pool.subarray(11, 11 + bytes.length);
    const body = buildReportBody(subject(slice, { file: factsOf(bytes) }), INFO);
    expect(body.ViolationContentCollection[0]?.Value).toBe(bytes.toString('base64'));
  });

  it('refuses bytes that do not match the file SHA-256, and missing reporter fields', () => {
    const s = subject();
    expect(() => buildReportBody({ ...s, bytes: png(200, 200, 9) }, INFO)).toThrow(/SHA-256/);
    let error: unknown;
    try {
      buildReportBody(s, { ...INFO, orgName: ' ', reporterEmail: undefined as unknown as string });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as InvalidOptionsError).paths).toEqual([
      'reporter.orgName',
      'reporter.reporterEmail',
    ]);
  });
});

describe('credentialsOf and missingReporterFields', () => {
  it('returns exactly the two credentials', () => {
    expect(credentialsOf({ ...INFO, isTest: true })).toStrictEqual({
      ncmecUser: 'esp-user',
      ncmecPassword: 'esp-secret',
    });
    expect(() => credentialsOf({ ...INFO, ncmecPassword: '' })).toThrow(/ncmecPassword/);
  });

  it('names absent, empty and non-string fields', () => {
    expect(missingReporterFields(INFO)).toEqual([]);
    expect(missingReporterFields({})).toEqual([
      'orgName',
      'reporterName',
      'reporterEmail',
      'ncmecUser',
      'ncmecPassword',
    ]);
    expect(
      missingReporterFields({ ...INFO, reporterName: '', ncmecUser: 42 as unknown as string }),
    ).toEqual(['reporterName', 'ncmecUser']);
  });

  it('evidence ip: an address that is not an IP is left out with a note, never sent', () => {
    const body = buildReportBody(subject(png(), { ip: 'not-an-ip, 198.51.100.1' }), INFO);
    expect('ReporteeIPAddress' in body).toBe(false);
    expect('UploadIpAddress' in (body.ViolationContentCollection[0] ?? {})).toBe(false);
    expect(body.ViolationContentCollection[0]?.AdditionalMetadata).toContainEqual({
      Key: 'additionalInfo',
      Value: 'The uploader IP address is unknown (no valid IP was recorded).',
    });
    const given = buildReportBody(subject(png(), { ip: 'junk' }), {
      ...INFO,
      reporteeIpAddress: '2001:db8::7',
    });
    expect(given.ReporteeIPAddress).toBe('2001:db8::7');
  });
});

describe('the address a report states', () => {
  it.each([
    ['::ffff:198.51.100.4', '198.51.100.4'],
    ['::FFFF:198.51.100.4', '198.51.100.4'],
    ['::ffff:c633:6404', '198.51.100.4'],
    ['0:0:0:0:0:ffff:198.51.100.4', '198.51.100.4'],
    [' 198.51.100.4 ', '198.51.100.4'],
    ['fe80::1%eth0', 'fe80::1'],
    ['2001:db8::7', '2001:db8::7'],
    ['::1', '::1'],
    ['::198.51.100.4', '::198.51.100.4'],
  ])('%s is reported as %s (the record keeps it as recorded)', (recorded, reported) => {
    const body = buildReportBody(subject(png(), { ip: recorded }), INFO);
    expect(body.ReporteeIPAddress).toBe(reported);
    expect(body.ViolationContentCollection[0]?.UploadIpAddress).toBe(reported);
    const given = buildReportBody(subject(png(), { ip: 'junk' }), {
      ...INFO,
      reporteeIpAddress: recorded,
    });
    expect(given.ReporteeIPAddress).toBe(reported);
  });
});
