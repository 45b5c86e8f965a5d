import type { GuardError } from '../errors.js';
import type { PhotoDnaResult } from '../types.js';

/**
 * The core's decision for one request; adapters translate it into `next()`, a JSON rejection,
 * or nothing at all when the uploader has gone.
 */
export type Verdict =
  | {
      kind: 'pass';
      photodna: PhotoDnaResult;
      /** Indexes (into the uploads) of matched files under 'flag': their bytes never reach the handler. */
      withheld: number[];
    }
  | { kind: 'reject'; error: GuardError }
  | { kind: 'aborted' };
