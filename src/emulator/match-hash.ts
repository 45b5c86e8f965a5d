import { parseJson } from './body.js';
import { decodeHash } from './hash.js';
import type { KnownList } from './known.js';
import type { ApiRequest } from './match.js';
import { type ApiAnswer, matchResult, status, testMatchFlag, trackingId } from './responses.js';

/** Hashes per MatchHash request (SPEC section 2). */
export const MAX_HASHES_PER_BATCH = 5;

export interface MatchHashContext {
  known: KnownList;
  /** Largest squared distance that counts as a match. */
  threshold: number;
}

/**
 * Answers MatchHash: one Match-shaped result per hash, in order. A hash that is not base64 of
 * 144 bytes (or an entry that is not `{"DataRepresentation":"Hash","Value":...}`) gets its own
 * 3002 result. A batch that cannot be read at all (not a JSON array, empty, more than five
 * entries, not `application/json`) is refused whole: HTTP 200 with a top-level `Status` 3002
 * and an empty `MatchResults`, the way the service refuses an invalid request parameter.
 */
export function handleMatchHash(request: ApiRequest, context: MatchHashContext): ApiAnswer {
  const batch = readBatch(request);
  if (!Array.isArray(batch)) return batchError(batch.error);
  let anyMatch = false;
  const results = batch.map((entry) => {
    const hash = entryHash(entry);
    if (!hash)
      return matchResult(3002, [], {
        exception: 'Value must be base64 of a 144-byte PhotoDNA hash',
      });
    const nearest = context.known.nearestHash(hash, context.threshold);
    if (nearest) anyMatch = true;
    return matchResult(3000, nearest ? [testMatchFlag(nearest.matchId, nearest.distance)] : []);
  });
  return {
    httpStatus: 200,
    statusCode: 3000,
    isMatch: anyMatch,
    body: { TrackingId: trackingId(), MatchResults: results },
  };
}

/** How many entries a MatchHash body holds (0 when unreadable), to shape injected `code` faults. */
export function batchSize(request: ApiRequest): number {
  const batch = readBatch(request);
  return Array.isArray(batch) ? batch.length : 0;
}

function readBatch(request: ApiRequest): unknown[] | { error: string } {
  const media = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (media !== 'application/json') return { error: 'Content-Type must be application/json' };
  const json = parseJson(request.body);
  if (!json.ok || !Array.isArray(json.value))
    return { error: 'the body must be a JSON array of hashes' };
  if (json.value.length === 0) return { error: 'the batch holds no hash' };
  if (json.value.length > MAX_HASHES_PER_BATCH) {
    return {
      error: `at most ${MAX_HASHES_PER_BATCH} hashes per request; got ${json.value.length}`,
    };
  }
  return json.value;
}

function entryHash(entry: unknown): Uint8Array | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const { DataRepresentation, Value } = entry as Record<string, unknown>;
  if (typeof DataRepresentation !== 'string' || DataRepresentation.toLowerCase() !== 'hash')
    return undefined;
  return decodeHash(Value);
}

function batchError(exception: string): ApiAnswer {
  return {
    httpStatus: 200,
    statusCode: 3002,
    isMatch: false,
    body: { TrackingId: trackingId(), Status: status(3002, exception), MatchResults: [] },
  };
}
