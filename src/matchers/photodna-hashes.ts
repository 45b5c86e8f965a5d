import { HASHES_PER_BATCH, type PhotoDnaClient } from '../client/client.js';
import { MatchHashBatcher } from '../client/match-hash-batcher.js';
import { settleBy } from '../core/abortable.js';
import { GuardError } from '../errors.js';
import type { Matcher, PhotoDnaHasher } from '../types.js';

/** Longest base64 text taken from a hasher (a PhotoDNA hash is 144 bytes = 192 characters). */
const MAX_HASH_CHARS = 4096;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * PhotoDNA through MatchHash: the host's licensed `hasher` hashes each file locally, and the hashes
 * of concurrent requests share MatchHash calls (up to five per call, one rate-limiter slot each).
 * A hasher that fails or answers something that is not base64 makes its own file unchecked
 * (reason `hasher-failed`) without spending a call.
 */
export function photoDnaHashMatcher(
  client: PhotoDnaClient,
  hasher: PhotoDnaHasher,
  options: { windowMs: number },
): Matcher {
  const batcher = new MatchHashBatcher(client, {
    windowMs: options.windowMs,
    size: HASHES_PER_BATCH,
  });
  return {
    async match({ bytes, file, signal }) {
      const hash = await settleBy(
        hashWith(hasher, bytes, {
          mimetype: file.mimetype,
          width: file.width,
          height: file.height,
          signal,
        }),
        signal,
      );
      return batcher.match(hash, signal);
    },
    async close() {
      await batcher.close();
      await client.close();
    },
  };
}

async function hashWith(
  hasher: PhotoDnaHasher,
  bytes: Buffer,
  input: Parameters<PhotoDnaHasher>[1],
): Promise<string> {
  let hash: unknown;
  try {
    hash = await hasher(bytes, input);
  } catch (error) {
    if (input.signal.aborted) throw error;
    throw hasherFailed(
      `the hasher threw: ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
  }
  if (
    typeof hash !== 'string' ||
    hash.length === 0 ||
    hash.length > MAX_HASH_CHARS ||
    !BASE64.test(hash)
  ) {
    throw hasherFailed(
      `the hasher answered ${typeof hash === 'string' ? `a string of ${hash.length} characters that is not base64` : typeof hash}, not a base64 PhotoDNA hash`,
    );
  }
  return hash;
}

function hasherFailed(detail: string, cause?: unknown): GuardError {
  return new GuardError('SCAN_UNAVAILABLE', {
    reason: 'hasher-failed',
    detail,
    ...(cause === undefined ? {} : { cause }),
  });
}
