import { describe, expect, it } from 'vitest';
import type { HttpResponse } from '../../src/client/http.js';
import {
  parseMatchAnswer,
  parseMatchHashAnswer,
  parseReportAnswer,
} from '../../src/client/responses.js';
import { PhotoDnaServiceError } from '../../src/errors.js';

const context = { secrets: ['the-secret-key'] };

function answer(body: unknown, status = 200, headers: HttpResponse['headers'] = {}): HttpResponse {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { status, headers, body: Buffer.from(text) };
}

function failure(run: () => unknown): PhotoDnaServiceError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PhotoDnaServiceError);
    return error as PhotoDnaServiceError;
  }
  throw new Error('expected a PhotoDnaServiceError');
}

const ok = { Code: 3000, Description: 'OK', Exception: null };
const flag = {
  AdvancedInfo: [{ Key: 'MatchId', Value: '104149' }],
  Source: 'Test',
  Violations: ['A1'],
  MatchDistance: 179,
};
const matchBody = {
  Status: ok,
  TrackingId: '1_photodna_abc',
  ContentId: null,
  IsMatch: true,
  MatchDetails: { AdvancedInfo: [], MatchFlags: [flag] },
  EvaluateResponse: null,
};
const cleanBody = {
  ...matchBody,
  IsMatch: false,
  MatchDetails: { AdvancedInfo: [], MatchFlags: [] },
};

describe('parseMatchAnswer', () => {
  it('turns a match into a typed result', () => {
    expect(parseMatchAnswer(answer(matchBody), context)).toEqual({
      isMatch: true,
      trackingId: '1_photodna_abc',
      matchFlags: [{ source: 'Test', violations: ['A1'], matchDistance: 179, matchId: '104149' }],
      statusCode: 3000,
      description: 'OK',
      evaluateResponse: null,
      contentId: null,
    });
  });

  it('turns a clean answer into isMatch false', () => {
    const result = parseMatchAnswer(answer(cleanBody), context);
    expect(result).toMatchObject({ isMatch: false, matchFlags: [], trackingId: '1_photodna_abc' });
  });

  it('caps a tracking id of any length before it reaches results, errors and logs', () => {
    const long = 'x'.repeat(100_000);
    const result = parseMatchAnswer(answer({ ...cleanBody, TrackingId: long }), context);
    expect(result.trackingId.length).toBeLessThanOrEqual(301);
    const error = failure(() =>
      parseMatchAnswer(answer({ ...cleanBody, Status: { Code: 3004 }, TrackingId: long }), context),
    );
    expect(error.trackingId?.length).toBeLessThanOrEqual(301);
  });

  it('keeps the evaluation scores', () => {
    const scores = { AdultClassificationScore: 0.1, IsImageAdultClassified: false };
    const result = parseMatchAnswer(answer({ ...cleanBody, EvaluateResponse: scores }), context);
    expect(result.evaluateResponse).toEqual(scores);
  });

  it.each([
    ['a body that is not JSON', '{"Status":{"Code":3000'],
    ['an empty body', ''],
    ['IsMatch missing', { Status: ok, TrackingId: 't' }],
    ['IsMatch not a boolean', { ...cleanBody, IsMatch: 'false' }],
    ['TrackingId missing', { Status: ok, IsMatch: false }],
    ['no Status', { TrackingId: 't', IsMatch: false }],
    ['flags on a non-match', { ...matchBody, IsMatch: false }],
    ['a clean answer with odd scores', { ...cleanBody, EvaluateResponse: 'high' }],
    [
      'a clean answer with an odd description',
      { ...cleanBody, Status: { Code: 3000, Description: 7 } },
    ],
    ['an array', [cleanBody]],
    ['null', null],
  ])('never reads %s as clean', (_, body) => {
    const error = failure(() => parseMatchAnswer(answer(body as object), context));
    expect(error).toMatchObject({
      reason: 'malformed-response',
      retryable: true,
      guardCode: 'SCAN_UNAVAILABLE',
    });
  });

  it.each([
    ['a flag without Source', { MatchFlags: [{ Violations: [] }, flag] }],
    ['flags that are not a list', { MatchFlags: 'A1' }],
    ['scores of another shape', { MatchFlags: [flag], extra: true }],
  ])('reads IsMatch: true with %s as a match, keeping the flags that read', (_, details) => {
    const body = { ...matchBody, MatchDetails: details, EvaluateResponse: 'odd', ContentId: 7 };
    const result = parseMatchAnswer(answer(body), context);
    expect(result).toMatchObject({ isMatch: true, trackingId: '1_photodna_abc' });
    const kept = Array.isArray(details.MatchFlags) && details.MatchFlags.includes(flag);
    expect(result.matchFlags).toEqual(kept ? [expect.objectContaining({ source: 'Test' })] : []);
  });

  it('reads IsMatch: true with a status description of another type as a match', () => {
    const body = { ...matchBody, Status: { Code: 3000, Description: 7, Exception: null } };
    const result = parseMatchAnswer(answer(body), context);
    expect(result).toMatchObject({ isMatch: true, trackingId: '1_photodna_abc', statusCode: 3000 });
    expect(result.description).toBeUndefined();
  });

  it('reads an error code whose description is of another type as that code', () => {
    const body = { Status: { Code: 3004, Description: ['x'] }, TrackingId: 't1' };
    const error = failure(() => parseMatchAnswer(answer(body), context));
    expect(error).toMatchObject({ statusCode: 3004, reason: 'server-error', trackingId: 't1' });
  });

  it.each([
    [3002, 'SCAN_UNAVAILABLE', 'bad-request', false],
    [3004, 'SCAN_UNAVAILABLE', 'server-error', true],
    [3206, 'INVALID_IMAGE', undefined, false],
    [3208, 'IMAGE_TOO_SMALL', undefined, false],
    [3999, 'SCAN_UNAVAILABLE', 'server-error', false],
  ])('maps status %i', (code, guardCode, reason, retryable) => {
    const body = { Status: { Code: code, Description: 'x', Exception: null }, TrackingId: 't1' };
    const error = failure(() => parseMatchAnswer(answer(body), context));
    expect(error).toMatchObject({
      statusCode: code,
      guardCode,
      reason,
      retryable,
      trackingId: 't1',
    });
  });

  it('maps 3208 on more than 4 MB to FILE_TOO_LARGE', () => {
    const body = { Status: { Code: 3208, Description: 'x' }, TrackingId: 't1' };
    const error = failure(() => parseMatchAnswer(answer(body), { ...context, bytes: 4_100_000 }));
    expect(error.guardCode).toBe('FILE_TOO_LARGE');
  });

  it.each([
    [401, 'unauthorized', false],
    [403, 'quota-exceeded', false],
    [429, 'rate-limited', true],
    [500, 'server-error', true],
    [503, 'server-error', true],
    [404, 'bad-request', false],
  ])('maps HTTP %i', (status, reason, retryable) => {
    const body = { statusCode: status, message: 'nope' };
    const error = failure(() => parseMatchAnswer(answer(body, status), context));
    expect(error).toMatchObject({
      httpStatus: status,
      reason,
      retryable,
      guardCode: 'SCAN_UNAVAILABLE',
    });
  });

  it('takes Retry-After from the header, else from the message, else 1', () => {
    const body = { statusCode: 429, message: 'Rate limit is exceeded. Try again in 3 seconds.' };
    expect(
      failure(() => parseMatchAnswer(answer(body, 429, { 'retry-after': '2' }), context))
        .retryAfter,
    ).toBe(2);
    expect(failure(() => parseMatchAnswer(answer(body, 429), context)).retryAfter).toBe(3);
    expect(failure(() => parseMatchAnswer(answer('', 429), context)).retryAfter).toBe(1);
  });

  it('names a 401 without ever echoing the key', () => {
    const body = { statusCode: 401, message: 'Invalid key the-secret-key' };
    const error = failure(() => parseMatchAnswer(answer(body, 401), context));
    expect(error.message).toContain('subscription key');
    expect(error.message).toContain('401');
    expect(error.message).not.toContain('the-secret-key');
  });
});

describe('parseMatchHashAnswer', () => {
  it('keeps the order and lends the batch TrackingId to results without one', () => {
    const item = (isMatch: boolean) => {
      const { TrackingId: _, ...rest } = isMatch ? matchBody : cleanBody;
      return rest;
    };
    const body = { TrackingId: 'batch', MatchResults: [item(false), item(true), item(false)] };
    const results = parseMatchHashAnswer(answer(body), 3, context);
    expect(results.map((r) => r.isMatch)).toEqual([false, true, false]);
    expect(results.every((r) => r.trackingId === 'batch')).toBe(true);
  });

  it('refuses a result count that differs from the batch', () => {
    const body = { TrackingId: 'batch', MatchResults: [cleanBody] };
    expect(failure(() => parseMatchHashAnswer(answer(body), 2, context)).reason).toBe(
      'malformed-response',
    );
  });

  it('throws the batch status and per-hash errors', () => {
    const refused = { TrackingId: 'b', Status: { Code: 3002, Description: 'x' }, MatchResults: [] };
    expect(failure(() => parseMatchHashAnswer(answer(refused), 1, context)).statusCode).toBe(3002);
    const mixed = { TrackingId: 'b', MatchResults: [cleanBody, { Status: { Code: 3002 } }] };
    expect(failure(() => parseMatchHashAnswer(answer(mixed), 2, context)).reason).toBe(
      'bad-request',
    );
  });
});

describe('parseReportAnswer', () => {
  it('reads the tracking id and status', () => {
    const body = { Status: ok, TrackingId: 'r1' };
    expect(parseReportAnswer(answer(body), context)).toEqual({
      trackingId: 'r1',
      statusCode: 3000,
      description: 'OK',
      raw: body,
    });
  });

  it('throws a refused report with the service detail, redacted', () => {
    const body = {
      Status: { Code: 3002, Description: 'Invalid', Exception: 'bad x-pwd pw-123456' },
      TrackingId: 'r2',
    };
    const error = failure(() => parseReportAnswer(answer(body), { secrets: ['pw-123456'] }));
    expect(error).toMatchObject({ statusCode: 3002, reason: 'bad-request', trackingId: 'r2' });
    expect(error.message).toContain('bad x-pwd [redacted]');
  });
});
