import type { PhotoDnaClient } from '../client/client.js';
import { InvalidOptionsError } from '../errors.js';
import type { GuardConfig } from '../options.js';
import type { Matcher } from '../types.js';
import { photoDnaHashMatcher } from './photodna-hashes.js';

/** The guard's matcher and the PhotoDNA client behind it (absent when PhotoDNA is not used). */
export interface BuiltMatcher {
  matcher: Matcher;
  client: PhotoDnaClient | undefined;
}

/**
 * Picks the guard's back end from its options: a custom `matcher`, else PhotoDNA (one Match per
 * file, or MatchHash batches of the host's `hasher`). Throws when none can be built.
 */
export function buildMatcher(
  config: GuardConfig,
  apiKey: string | undefined,
  createClient: () => PhotoDnaClient,
): BuiltMatcher {
  if (config.matcher) return { matcher: config.matcher, client: undefined };
  if (!apiKey) {
    throw new InvalidOptionsError(
      "photodnaGuard: option 'apiKey': required unless a custom 'matcher' is given (or set PHOTODNA_API_KEY)",
      ['apiKey'],
    );
  }
  const client = createClient();
  const matcher = config.hasher
    ? photoDnaHashMatcher(client, config.hasher, { windowMs: config.batchWindowMs })
    : client.asMatcher();
  return { matcher, client };
}
