import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { adminRefusal } from './admin-auth.js';
import { BodyTooLargeError, parseJson, readBody } from './body.js';
import { errorRateSchema, faultSchema, latencySchema } from './fault-schema.js';
import { sendJson } from './http-io.js';
import { type EmulatorState, resetState } from './state.js';
import { testImage, testImages } from './test-images.js';

/**
 * Admin routes live under this prefix. All but the test images need the admin token or the
 * emulator's key (`admin-auth.ts`); none sends CORS headers.
 */
export const ADMIN_PREFIX = '/__emulator/';

const MAX_ADMIN_BODY = 1024 * 1024;

/**
 * `POST /__emulator/faults`. `sequence` replaces the fault queue (`[]` empties it), `errorRate`
 * sets the random fault (`null` removes it), `latencyMs` sets the added latency.
 */
const faultsBodySchema = z.strictObject({
  sequence: z.array(faultSchema).max(10_000).optional(),
  errorRate: errorRateSchema.nullable().optional(),
  latencyMs: latencySchema.optional(),
});

/** Answers `/__emulator/*`: calls, reports, faults, reset and the test images. */
export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  state: EmulatorState,
  path: string,
): Promise<void> {
  const route = `${req.method ?? 'GET'} ${path.slice(ADMIN_PREFIX.length - 1)}`;
  if (req.method !== 'POST') req.resume();
  if (route === 'GET /test-images' || route.startsWith('GET /test-images/')) {
    return serveTestImages(res, route);
  }
  const refusal = adminRefusal(req, {
    adminToken: state.adminToken,
    apiKey: state.options.apiKey,
  });
  if (refusal) {
    req.resume();
    return sendJson(res, refusal.status, {
      error: { code: refusal.code, message: refusal.message },
    });
  }
  switch (route) {
    case 'GET /calls':
      return sendJson(res, 200, state.calls);
    case 'GET /reports':
      return sendJson(res, 200, { reports: state.reports, testReports: state.testReports });
    case 'GET /faults':
      return sendJson(res, 200, faultState(state));
    case 'POST /faults':
      return setFaults(req, res, state);
    case 'POST /reset':
      req.resume();
      resetState(state);
      return sendJson(res, 200, { reset: true });
    default:
      req.resume();
      return sendJson(res, 404, {
        error: { code: 'NOT_FOUND', message: `no admin route ${route}` },
      });
  }
}

async function setFaults(
  req: IncomingMessage,
  res: ServerResponse,
  state: EmulatorState,
): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await readBody(req, MAX_ADMIN_BODY);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) return;
    return sendJson(
      res,
      413,
      { error: { code: 'TOO_LARGE', message: error.message } },
      { connection: 'close' },
    );
  }
  const json = parseJson(bytes);
  const parsed = json.ok ? faultsBodySchema.safeParse(json.value) : undefined;
  if (!parsed?.success) {
    const issues = parsed?.error.issues.map(
      (issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`,
    ) ?? ['body: not JSON'];
    return sendJson(res, 400, { error: { code: 'INVALID_BODY', message: issues.join('; ') } });
  }
  const { sequence, errorRate, latencyMs } = parsed.data;
  if (sequence) state.faults.replace(sequence);
  if (errorRate === null) state.faults.clearErrorRate();
  else if (errorRate) state.faults.setErrorRate(errorRate.rate, errorRate.fault);
  if (latencyMs !== undefined) state.latencyMs = latencyMs;
  return sendJson(res, 200, faultState(state));
}

function faultState(state: EmulatorState): object {
  return { ...state.faults.describe(), latencyMs: state.latencyMs };
}

/** The shipped synthetic test images: public (they are what the URL form may fetch by default). */
function serveTestImages(res: ServerResponse, route: string): void {
  if (route === 'GET /test-images') {
    sendJson(
      res,
      200,
      testImages().map(({ name, sha256 }) => ({
        name,
        sha256,
        path: `${ADMIN_PREFIX}test-images/${name}`,
      })),
    );
    return;
  }
  sendTestImage(res, route.slice('GET /test-images/'.length));
}

function sendTestImage(res: ServerResponse, encodedName: string): void {
  let name: string;
  try {
    name = decodeURIComponent(encodedName);
  } catch {
    name = '';
  }
  const image = testImage(name);
  if (!image) {
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'no such test image' } });
    return;
  }
  res.writeHead(200, {
    'content-type': 'image/png',
    'content-length': String(image.bytes.length),
    'content-disposition': `inline; filename="${image.name}"`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(image.bytes);
}
