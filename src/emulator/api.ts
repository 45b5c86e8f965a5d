import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, delay, readBody } from './body.js';
import { faultAnswer } from './faults.js';
import { sendAnswer } from './http-io.js';
import { type ApiRequest, handleMatch } from './match.js';
import { batchSize, handleMatchHash } from './match-hash.js';
import type { RateBucket } from './rate-limit.js';
import { handleReport } from './report.js';
import { type ApiAnswer, apimError, missingKeyError } from './responses.js';
import { type EmulatorState, recordCall, recordReport } from './state.js';
import type { EmulatorCall } from './types.js';

/** Match and MatchHash bodies above this are refused with an API Management 413. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * Report bodies above this are refused with a 413: five 4 MiB images in base64 (~5.6 MB each)
 * with their JSON. The service documents no limit; one image per report is what the guard sends.
 */
export const MAX_REPORT_BODY_BYTES = 32 * 1024 * 1024;

export interface ApiRoute {
  operation: EmulatorCall['operation'];
  /** The rate-limit window it counts against; Report has none. */
  bucket?: RateBucket;
  /** Whether it consumes injected faults (Match and MatchHash do, Report does not). */
  faultable: boolean;
  /** Largest body read; larger answers 413. */
  maxBodyBytes: number;
  handle(request: ApiRequest, state: EmulatorState): ApiAnswer | Promise<ApiAnswer>;
}

const matchContext = (state: EmulatorState) => ({
  known: state.known,
  urlAllowList: state.options.urlAllowList,
  selfPort: state.port,
  signal: state.closing.signal,
});

/** The PhotoDNA operations, by lower-cased path (API Management paths are case-insensitive). */
export const API_ROUTES: ReadonlyMap<string, ApiRoute> = new Map<string, ApiRoute>([
  [
    '/photodna/v1.0/match',
    {
      operation: 'match-v1',
      bucket: 'v1',
      faultable: true,
      maxBodyBytes: MAX_BODY_BYTES,
      handle: (r, s) => handleMatch(r, matchContext(s)),
    },
  ],
  [
    '/v2/photodna/match',
    {
      operation: 'match-v2',
      bucket: 'v2',
      faultable: true,
      maxBodyBytes: MAX_BODY_BYTES,
      handle: (r, s) => handleMatch(r, matchContext(s)),
    },
  ],
  [
    '/photodna/v1.0/matchhash',
    {
      operation: 'match-hash',
      bucket: 'v1',
      faultable: true,
      maxBodyBytes: MAX_BODY_BYTES,
      handle: (r, s) => handleMatchHash(r, { known: s.known, threshold: s.options.hashThreshold }),
    },
  ],
  [
    '/photodna/v1.0/report',
    {
      operation: 'report',
      faultable: false,
      maxBodyBytes: MAX_REPORT_BODY_BYTES,
      handle: (r, s) => {
        const outcome = handleReport(r);
        if (outcome.report) recordReport(s, outcome.report);
        return outcome.answer;
      },
    },
  ],
]);

/**
 * One API call, in the order API Management and the service apply their checks: subscription
 * key (401), rate limit (429), body size (413), then an injected fault or the operation itself.
 */
export async function handleApiCall(
  req: IncomingMessage,
  res: ServerResponse,
  state: EmulatorState,
  route: ApiRoute,
  url: URL,
): Promise<void> {
  const key = subscriptionKey(req, url);
  const contentType = req.headers['content-type'];
  const call: EmulatorCall = {
    at: Date.now(),
    operation: route.operation,
    path: url.pathname,
    httpStatus: 0,
    ...(key === undefined ? {} : { key }),
    ...(contentType === undefined ? {} : { contentType }),
  };
  recordCall(state, call);
  const answer = async (result: ApiAnswer, extraDelayMs = 0): Promise<void> => {
    await delay(state.latencyMs + extraDelayMs, state.closing.signal);
    if (state.closing.signal.aborted) return;
    call.httpStatus = result.httpStatus;
    if (result.statusCode !== undefined) call.statusCode = result.statusCode;
    if (result.isMatch !== undefined) call.isMatch = result.isMatch;
    sendAnswer(res, result);
  };

  const accepted =
    state.options.apiKey === undefined ? key !== undefined : key === state.options.apiKey;
  if (!accepted) return answer(key === undefined ? missingKeyError() : apimError(401));
  if (route.bucket && key !== undefined) {
    const decision = state.rateLimiter.take(key, route.bucket);
    if (!decision.allowed) return answer(apimError(429, decision.retryAfterSeconds));
  }

  let body: Buffer;
  try {
    body = await readBody(req, route.maxBodyBytes);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) return; // the client went away
    const tooLarge = apimError(413);
    return answer({ ...tooLarge, headers: { ...tooLarge.headers, connection: 'close' } });
  }
  const request: ApiRequest = { query: url.searchParams, headers: req.headers, body };

  const fault = route.faultable ? state.faults.next() : undefined;
  if (fault) call.fault = fault.type;
  if (fault?.type === 'hang') return; // answered by nobody; close() destroys the socket
  if (fault?.type === 'reset') {
    await delay(state.latencyMs, state.closing.signal);
    req.socket.destroy();
    return;
  }
  const operation = route.operation === 'match-hash' ? 'match-hash' : 'match';
  const injected = fault
    ? faultAnswer(fault, operation, operation === 'match-hash' ? batchSize(request) : 0)
    : undefined;
  const result = injected ?? (await route.handle(request, state));
  return answer(result, fault?.type === 'latency' ? fault.ms : 0);
}

/** The key from `Ocp-Apim-Subscription-Key`, or API Management's `subscription-key` query parameter. */
function subscriptionKey(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers['ocp-apim-subscription-key'];
  const value =
    (Array.isArray(header) ? header[0] : header) ??
    url.searchParams.get('subscription-key') ??
    undefined;
  return value?.trim() ? value.trim() : undefined;
}
