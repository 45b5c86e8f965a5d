/**
 * The NCMEC report body of SPEC section 2, built from one matched upload. Pure: no I/O, no clock.
 * The content's `Name` comes from the bytes' SHA-256 and the sniffed type, never from the
 * client's file name.
 */
import { createHash } from 'node:crypto';
import { reportableIp } from '../core/client-address.js';
import { InvalidOptionsError } from '../errors.js';
import { extensionOf } from '../quarantine/names.js';
import { reportTextLength } from '../service-limits.js';
import type {
  FileFacts,
  NcmecCredentials,
  ReportBody,
  ReporterInfo,
  ReportViolationContent,
} from '../types.js';
import { assertReportFieldsFit } from './field-limits.js';

/** One matched upload, as a report needs it. */
export interface ReportSubject {
  bytes: Buffer;
  file: FileFacts;
  /** The uploader's IP. */
  ip: string;
  receivedAt: Date;
}

/** Reporter fields a report cannot be sent without. */
export const REQUIRED_REPORTER_FIELDS = [
  'orgName',
  'reporterName',
  'reporterEmail',
  'ncmecUser',
  'ncmecPassword',
] as const satisfies ReadonlyArray<keyof ReporterInfo>;

/** Names of required fields that are absent, empty or not strings. */
export function missingReporterFields(info: Partial<ReporterInfo>): Array<keyof ReporterInfo> {
  return REQUIRED_REPORTER_FIELDS.filter((key) => {
    const value: unknown = info?.[key];
    return typeof value !== 'string' || value.trim().length === 0;
  });
}

/** The `x-usr` / `x-pwd` credentials; throws `InvalidOptionsError` if either is missing. */
export function credentialsOf(info: ReporterInfo): NcmecCredentials {
  requireFields(info, ['ncmecUser', 'ncmecPassword']);
  return { ncmecUser: info.ncmecUser, ncmecPassword: info.ncmecPassword };
}

/** The content name sent to NCMEC: `<sha256>.<ext of the sniffed type>`. */
export function reportContentName(sha256: string, mimetype: string): string {
  return `${sha256}.${extensionOf(mimetype)}`;
}

/**
 * The Report body for one upload. Throws `InvalidOptionsError` when orgName, reporterName or
 * reporterEmail is missing, `ReportFieldTooLongError` (an `InvalidOptionsError`) when a field is
 * longer than the service accepts, and an `Error` when the bytes do not match `file.sha256`.
 */
export function buildReportBody(subject: ReportSubject, info: ReporterInfo): ReportBody {
  requireFields(info, ['orgName', 'reporterName', 'reporterEmail']);
  assertReportFieldsFit(info);
  const bytes = Buffer.from(
    subject.bytes.buffer,
    subject.bytes.byteOffset,
    subject.bytes.byteLength,
  );
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== String(subject.file.sha256).toLowerCase()) {
    throw new Error(
      'report body: the bytes do not match the file SHA-256; refusing to report them',
    );
  }
  const time = subject.receivedAt.toISOString();
  const metadata: NonNullable<ReportViolationContent['AdditionalMetadata']> = [
    { Key: 'viewedByEsp', Value: 'false' },
    { Key: 'publiclyAvailable', Value: String(info.publiclyAvailable ?? false) },
  ];
  // A report never fails on the address: one that is not an IP (a client-written header, an
  // old record) is left out, and the report says so.
  const reporteeIp = reportableIp(info.reporteeIpAddress ?? subject.ip);
  const uploadIp = reportableIp(subject.ip);
  const notes = [info.additionalInfo ?? ''];
  if (!reporteeIp) notes.push('The uploader IP address is unknown (no valid IP was recorded).');
  const additionalInfo = notes.filter((note) => note !== '').join(' ');
  // The note counts against the service's limit too.
  const added = reportTextLength(additionalInfo) - reportTextLength(notes[0] ?? '');
  assertReportFieldsFit({ additionalInfo }, { additionalInfo: added });
  if (additionalInfo !== '') metadata.push({ Key: 'additionalInfo', Value: additionalInfo });
  const body: ReportBody = {
    OrgName: info.orgName,
    ReporterName: info.reporterName,
    ReporterEmail: info.reporterEmail,
    IncidentTime: time,
    ReporteeName: info.reporteeName ?? 'unknown',
    ...(reporteeIp === undefined ? {} : { ReporteeIPAddress: reporteeIp }),
    ViolationContentCollection: [
      {
        Name: reportContentName(sha256, subject.file.mimetype),
        Value: bytes.toString('base64'),
        ...(uploadIp === undefined ? {} : { UploadIpAddress: uploadIp }),
        UploadDateTime: time,
        AdditionalMetadata: metadata,
      },
    ],
  };
  // Only `true` routes to the test endpoint, as the record notes it (`isTest === true`): a report
  // sent as a test but noted as real would leave the incident unreported yet purgeable.
  if (info.isTest === true) body.AdditionalMetadata = [{ Key: 'IsTest', Value: 'true' }];
  return body;
}

function requireFields(info: Partial<ReporterInfo>, keys: ReadonlyArray<keyof ReporterInfo>): void {
  const missing = missingReporterFields(info).filter((key) => keys.includes(key));
  if (missing.length > 0) {
    throw new InvalidOptionsError(
      `reporter: missing ${missing.join(', ')}`,
      missing.map((key) => `reporter.${key}`),
    );
  }
}
