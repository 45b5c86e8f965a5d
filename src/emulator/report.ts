import { isIP } from 'node:net';
import { z } from 'zod';
import { REPORT_METADATA_VALUE_MAX_LENGTH, REPORT_TEXT_MAX_LENGTH } from '../service-limits.js';
import { parseJson } from './body.js';
import { isBase64 } from './hash.js';
import type { ApiRequest } from './match.js';
import { type ApiAnswer, status, trackingId } from './responses.js';
import type { EmulatorReport } from './types.js';

/** Files per report, a finite bound of our own (the service documents none). */
const MAX_FILES_PER_REPORT = 100;

// Lengths as zod counts them: Unicode code points (the guard's `reportTextLength`); the limits
// are the ones the guard refuses over-long reporter fields at before sending.
const text = z.string().trim().min(1).max(REPORT_TEXT_MAX_LENGTH);
const dateText = text.refine(
  (value) => !Number.isNaN(Date.parse(value)),
  'expected a date and time',
);
const ipText = z.string().refine((value) => isIP(value) !== 0, 'expected an IP address');
const coordinate = z.union([z.number(), z.string().max(64)]);

const violationSchema = z.looseObject({
  Name: text,
  Value: z.string().refine(isBase64, 'expected the base64 of the image'),
  Location: z
    .looseObject({ Latitude: coordinate, Longitude: coordinate, Altitude: coordinate })
    .optional(),
  UploadIpAddress: ipText.optional(),
  UploadDateTime: dateText.optional(),
  AdditionalMetadata: z
    .array(
      z.looseObject({
        Key: z.enum(['viewedByEsp', 'publiclyAvailable', 'additionalInfo']),
        Value: z.string().max(REPORT_METADATA_VALUE_MAX_LENGTH),
      }),
    )
    .max(10)
    .optional(),
});

/**
 * The Report body (SPEC section 2). Every top-level field is required by the service;
 * `ReporteeName` may be empty (an anonymous uploader), the others may not.
 */
export const reportBodySchema = z.looseObject({
  OrgName: text,
  ReporterName: text,
  ReporterEmail: z.email(),
  IncidentTime: dateText,
  ReporteeName: z.string().max(REPORT_TEXT_MAX_LENGTH),
  // Optional here: the guard leaves it out when no valid address is known (issue 11).
  ReporteeIPAddress: ipText.optional(),
  ViolationContentCollection: z.array(violationSchema).min(1).max(MAX_FILES_PER_REPORT),
  AdditionalMetadata: z
    .array(
      z.looseObject({
        Key: z.string().max(100),
        Value: z.string().max(REPORT_METADATA_VALUE_MAX_LENGTH),
      }),
    )
    .max(20)
    .optional(),
});

export interface ReportOutcome {
  answer: ApiAnswer;
  /** Set when the report was accepted. */
  report?: EmulatorReport;
}

/**
 * Answers Report: validates the NCMEC credentials headers and the body, and answers
 * `{Status, TrackingId}` (3000, or 3002 for a missing header or an invalid body).
 */
export function handleReport(request: ApiRequest): ReportOutcome {
  const user = header(request, 'x-usr');
  const hasPassword = header(request, 'x-pwd') !== undefined;
  if (user === undefined || !hasPassword) {
    return { answer: reportAnswer(3002, 'the x-usr and x-pwd headers are required') };
  }
  const media = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (media !== 'application/json')
    return { answer: reportAnswer(3002, 'Content-Type must be application/json') };
  const json = parseJson(request.body);
  if (!json.ok) return { answer: reportAnswer(3002, 'the body is not JSON') };
  const parsed = reportBodySchema.safeParse(json.value);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || 'body'))];
    return { answer: reportAnswer(3002, `invalid or missing: ${fields.slice(0, 10).join(', ')}`) };
  }
  const id = trackingId();
  const isTest = (parsed.data.AdditionalMetadata ?? []).some(
    (entry) => entry.Key.toLowerCase() === 'istest' && entry.Value.trim().toLowerCase() === 'true',
  );
  return {
    answer: reportAnswer(3000, null, id),
    report: {
      receivedAt: new Date(),
      trackingId: id,
      ncmecUser: user,
      ncmecPasswordPresent: hasPassword,
      isTest,
      body: json.value,
    },
  };
}

function reportAnswer(code: number, exception: string | null, id = trackingId()): ApiAnswer {
  return {
    httpStatus: 200,
    statusCode: code,
    body: { Status: status(code, exception), TrackingId: id },
  };
}

function header(request: ApiRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.trim() ? first : undefined;
}
