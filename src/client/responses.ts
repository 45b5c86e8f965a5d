import { z } from 'zod';
import { PhotoDnaServiceError } from '../errors.js';
import { redactJson } from '../redact.js';
import type { MatchFlag, MatchResult, ReportResult } from '../types.js';
import { httpStatusError, malformedError, redact, STATUS, statusCodeError } from './failures.js';
import type { HttpResponse } from './http.js';
import { answeredAt, parseRetryAfter } from './retry.js';

/**
 * The service's answers, parsed with zod into typed results. Anything unexpected (not JSON, a
 * missing field, match flags on an answer whose `IsMatch` is false) is a `malformed-response`
 * error, never a clean result. `IsMatch: true` stays a match without flags, or with flags, scores
 * or a content id of another shape (the flags that read are kept): the answer's verdict is what
 * fails closed, the rest only describes it.
 */

/** One Match answer (also one element of a MatchHash answer). */
export interface MatchResponse extends MatchResult {
  /** PhotoDNA `Status.Code`: always 3000 here (other codes are thrown as errors). */
  statusCode: number;
  description?: string;
  /** Adult/racy classifier scores, when `evaluation` asked for them. */
  evaluateResponse?: Record<string, unknown> | null;
  contentId?: string | null;
}

/** What the parsers need besides the answer. */
export interface ParseContext {
  /** Secrets that must never reach a message (subscription key, NCMEC password). */
  secrets: readonly string[];
  /** Size of the image sent, to tell "too large" from "too small" on a 3208. */
  bytes?: number;
}

const keyValueSchema = z.object({ Key: z.string(), Value: z.unknown() });

const statusSchema = z.object({
  Code: z.int(),
  Description: z.string().nullish(),
  Exception: z.unknown().optional(),
});

const matchFlagSchema = z.object({
  Source: z.string(),
  Violations: z.array(z.string()).nullish(),
  MatchDistance: z.number().nullish(),
  AdvancedInfo: z.array(keyValueSchema).nullish(),
});

const matchSchema = z
  .object({
    Status: statusSchema,
    TrackingId: z.string().min(1),
    ContentId: z.string().nullish(),
    IsMatch: z.boolean(),
    MatchDetails: z.object({ MatchFlags: z.array(matchFlagSchema).nullish() }).nullish(),
    EvaluateResponse: z.record(z.string(), z.unknown()).nullish(),
  })
  .refine((body) => body.IsMatch || (body.MatchDetails?.MatchFlags?.length ?? 0) === 0, {
    message: 'IsMatch is false but MatchDetails.MatchFlags is not empty',
    path: ['IsMatch'],
  });

/** Only the status: used first, so that an error answer need not carry a full Match shape. */
const statusOnlySchema = z.object({
  // A description of another type is left out here, not read as malformed (`IsMatch: true` stays
  // a match, an error code that code); a clean answer must still parse in full (`matchSchema`).
  Status: statusSchema.extend({ Description: z.string().nullish().catch(undefined) }),
  // Of another type, it is no reason to read the verdict as malformed (`IsMatch: true` stays a
  // match, with no tracking id); a clean answer must still parse in full (`matchSchema`).
  TrackingId: z.string().nullish().catch(undefined),
});

const matchHashSchema = z.object({
  TrackingId: z.string().min(1),
  Status: statusSchema.nullish(),
  MatchResults: z.array(z.unknown()),
});

const reportSchema = z.object({
  TrackingId: z.string().min(1),
  Status: statusSchema,
});

const apimErrorSchema = z.object({
  statusCode: z.number().optional(),
  message: z.string().optional(),
});

/** Parses one Match answer (v1 or v2). */
export function parseMatchAnswer(response: HttpResponse, context: ParseContext): MatchResponse {
  const json = checkedJson(response, context);
  return toMatchResponse(json, context);
}

/**
 * Parses a MatchHash answer for a batch of `count` hashes, keeping the input order; the first
 * refused hash throws (see `parseMatchHashResults` to keep each hash's own outcome).
 */
export function parseMatchHashAnswer(
  response: HttpResponse,
  count: number,
  context: ParseContext,
): MatchResponse[] {
  return parseMatchHashResults(response, count, context).map((result) => {
    if (result instanceof Error) throw result;
    return result;
  });
}

/**
 * Parses a MatchHash answer into one outcome per hash, in input order: a result, or the error of
 * that hash alone (its own `Status.Code` such as 3002, or a malformed entry). A failure of the
 * whole call (HTTP status, top-level `Status`, unreadable body, wrong count) is thrown.
 */
export function parseMatchHashResults(
  response: HttpResponse,
  count: number,
  context: ParseContext,
): Array<MatchResponse | PhotoDnaServiceError> {
  const json = checkedJson(response, context);
  const parsed = matchHashSchema.safeParse(json);
  if (!parsed.success) throw shapeError(parsed.error, context);
  const { TrackingId, MatchResults, Status } = parsed.data;
  if (Status && Status.Code !== STATUS.OK) throw codeError(Status, TrackingId, context);
  if (MatchResults.length !== count) {
    throw malformedError(`${MatchResults.length} MatchHash results for ${count} hashes`, {
      trackingId: trackingIdOf(TrackingId, context),
    });
  }
  return MatchResults.map((item) => {
    try {
      return toMatchResponse(
        typeof item === 'object' && item !== null && !('TrackingId' in item)
          ? { ...item, TrackingId }
          : item,
        context,
      );
    } catch (error) {
      if (error instanceof PhotoDnaServiceError) return error;
      throw error;
    }
  });
}

/** Parses a Report answer. */
export function parseReportAnswer(response: HttpResponse, context: ParseContext): ReportResult {
  const json = checkedJson(response, context);
  const parsed = reportSchema.safeParse(json);
  if (!parsed.success) throw shapeError(parsed.error, context);
  const { TrackingId, Status } = parsed.data;
  if (Status.Code !== STATUS.OK) throw codeError(Status, TrackingId, context);
  const result: ReportResult = {
    trackingId: trackingIdOf(TrackingId, context),
    statusCode: Status.Code,
    raw: redactJson(json, context.secrets),
  };
  if (Status.Description) result.description = redact(Status.Description, context.secrets);
  return result;
}

/**
 * The JSON body of an answer, after mapping HTTP statuses: API Management errors (401, 403, 429,
 * 5xx) by status; another non-200 by its PhotoDNA `Status.Code` when it has one.
 */
function checkedJson(response: HttpResponse, context: ParseContext): unknown {
  const json = parseJson(response.body);
  if (response.status === 200) {
    if (json === undefined)
      throw malformedError(`HTTP 200 with a body that is not JSON`, { httpStatus: 200 });
    return json;
  }
  const status = statusOnlySchema.safeParse(json);
  const apimOwned = [401, 403, 429].includes(response.status) || response.status >= 500;
  if (!apimOwned && status.success && status.data.Status.Code !== STATUS.OK) {
    throw codeError(
      status.data.Status,
      status.data.TrackingId ?? undefined,
      context,
      response.status,
    );
  }
  const apim = apimErrorSchema.safeParse(json);
  const message = apim.success ? apim.data.message : undefined;
  const header = response.headers['retry-after'];
  const sentAt = answeredAt(response.headers.date);
  throw httpStatusError(response.status, {
    serviceMessage: message === undefined ? undefined : redact(message, context.secrets),
    retryAfter:
      response.status === 429
        ? (parseRetryAfter(header, message, sentAt) ?? 1)
        : parseRetryAfter(header, undefined, sentAt),
  });
}

function toMatchResponse(json: unknown, context: ParseContext): MatchResponse {
  const status = statusOnlySchema.safeParse(json);
  if (!status.success) throw shapeError(status.error, context);
  if (status.data.Status.Code !== STATUS.OK) {
    throw codeError(status.data.Status, status.data.TrackingId ?? undefined, context);
  }
  const parsed = matchSchema.safeParse(json);
  if (!parsed.success) {
    const trackingId = status.data.TrackingId ?? undefined;
    if (isMatchVerdict(json)) return matchOfOddDetails(json, status.data, context);
    throw shapeError(parsed.error, context, trackingId);
  }
  const body = parsed.data;
  const result: MatchResponse = {
    isMatch: body.IsMatch,
    trackingId: trackingIdOf(body.TrackingId, context),
    matchFlags: (body.MatchDetails?.MatchFlags ?? []).map((flag) => toMatchFlag(flag, context)),
    statusCode: body.Status.Code,
    evaluateResponse: (redactJson(body.EvaluateResponse, context.secrets) ??
      null) as MatchResponse['evaluateResponse'],
    contentId: body.ContentId == null ? null : redact(body.ContentId, context.secrets),
  };
  if (body.Status.Description) {
    result.description = redact(body.Status.Description, context.secrets);
  }
  return result;
}

/** `IsMatch: true`: a match, however odd what describes it (its flags, scores, content id). */
function isMatchVerdict(json: unknown): boolean {
  return (json as { IsMatch?: unknown } | null)?.IsMatch === true;
}

/**
 * A match whose details are not of the expected shape (a flag's `MatchDistance` as text, say):
 * still a match, since the verdict is what fails closed (read as malformed, it was an unchecked
 * file, let through under failMode 'open', and neither quarantined nor reported). The flags that
 * read are kept; the others, scores and content id are left out.
 */
function matchOfOddDetails(
  json: unknown,
  { Status, TrackingId }: z.output<typeof statusOnlySchema>,
  context: ParseContext,
): MatchResponse {
  const details = (json as { MatchDetails?: { MatchFlags?: unknown } }).MatchDetails;
  const flags = Array.isArray(details?.MatchFlags) ? details.MatchFlags : [];
  const matchFlags: MatchFlag[] = [];
  for (const flag of flags) {
    const parsed = matchFlagSchema.safeParse(flag);
    if (parsed.success) matchFlags.push(toMatchFlag(parsed.data, context));
  }
  const result: MatchResponse = {
    isMatch: true,
    trackingId: TrackingId ? trackingIdOf(TrackingId, context) : '',
    matchFlags,
    statusCode: Status.Code,
    evaluateResponse: null,
    contentId: null,
  };
  if (Status.Description) result.description = redact(Status.Description, context.secrets);
  return result;
}

/** A match flag with no secret in its texts: they reach match events, logs and the quarantine record. */
function toMatchFlag(flag: z.output<typeof matchFlagSchema>, context: ParseContext): MatchFlag {
  const text = (value: string) => redact(value, context.secrets);
  const out: MatchFlag = {
    source: text(flag.Source),
    violations: (flag.Violations ?? []).map(text),
  };
  if (typeof flag.MatchDistance === 'number') out.matchDistance = flag.MatchDistance;
  const matchId = flag.AdvancedInfo?.find((info) => info.Key === 'MatchId')?.Value;
  if (typeof matchId === 'string' || typeof matchId === 'number')
    out.matchId = text(String(matchId));
  return out;
}

function codeError(
  status: z.output<typeof statusSchema>,
  trackingId: string | undefined,
  context: ParseContext,
  httpStatus?: number,
): PhotoDnaServiceError {
  const text = [status.Description, typeof status.Exception === 'string' ? status.Exception : '']
    .filter(Boolean)
    .join(' - ');
  return statusCodeError(status.Code, {
    description: text ? redact(text, context.secrets) : undefined,
    trackingId: trackingId && trackingIdOf(trackingId, context),
    httpStatus,
    bytes: context.bytes,
  });
}

function shapeError(
  error: z.ZodError,
  context: ParseContext,
  trackingId?: string,
): PhotoDnaServiceError {
  const where = error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
  return malformedError(`JSON of an unexpected shape (${redact(where, context.secrets)})`, {
    httpStatus: 200,
    trackingId: trackingId && trackingIdOf(trackingId, context),
    cause: error,
  });
}

/**
 * A `TrackingId` as the service sent it, but with no secret and of bounded length: it reaches
 * results, errors and logs, and a proxy or a service that echoes the request's headers into it
 * must not carry the subscription key or NCMEC credentials there.
 */
function trackingIdOf(trackingId: string, context: ParseContext): string {
  return redact(trackingId, context.secrets);
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
