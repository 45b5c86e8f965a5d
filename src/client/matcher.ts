import type { Matcher } from '../types.js';
import type { PhotoDnaClient } from './client.js';

/** Adapts a client to the guard's `Matcher` seam: one Match per file, with the guard's signal. */
export function toMatcher(client: PhotoDnaClient): Matcher {
  return {
    match: ({ bytes, contentType, signal }) => client.match(bytes, contentType, { signal }),
    close: () => client.close(),
  };
}
