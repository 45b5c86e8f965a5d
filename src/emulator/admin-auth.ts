import type { IncomingMessage } from 'node:http';
import { safeEqual } from '../secret.js';

/** Why an admin request is refused: the HTTP status and a JSON error. */
export interface AdminRefusal {
  status: 401 | 415;
  code: 'UNAUTHORIZED' | 'UNSUPPORTED_MEDIA_TYPE';
  message: string;
}

/**
 * Admin and log routes answer only a caller that proves it runs the emulator: the admin token as
 * `Authorization: Bearer <token>`, or the emulator's own subscription key (when `apiKey` is set)
 * as `Ocp-Apim-Subscription-Key`. A web page can send neither across origins without a CORS
 * preflight, which the emulator never grants. A POST must also say `application/json`, so a
 * form or `text/plain` "simple request" from a page is refused before its body is read.
 */
export function adminRefusal(
  req: IncomingMessage,
  credentials: { adminToken: string; apiKey: string | undefined },
): AdminRefusal | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(firstHeader(req, 'authorization') ?? '')?.[1];
  const key = firstHeader(req, 'ocp-apim-subscription-key')?.trim();
  const authorised =
    (bearer !== undefined && safeEqual(bearer, credentials.adminToken)) ||
    (credentials.apiKey !== undefined && key !== undefined && safeEqual(key, credentials.apiKey));
  if (!authorised) {
    return {
      status: 401,
      code: 'UNAUTHORIZED',
      message:
        "admin routes need 'Authorization: Bearer <adminToken>' or the emulator's subscription key",
    };
  }
  if (req.method === 'POST') {
    const media = (firstHeader(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (media !== 'application/json') {
      return {
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'admin POST bodies must be Content-Type: application/json',
      };
    }
  }
  return undefined;
}

function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
