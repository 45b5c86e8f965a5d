import type { GuardError } from '../errors.js';
import type { RejectEvent } from '../events.js';
import type { PhotoDnaResult } from '../types.js';

/** What scanning the files came to, before `decide` turns it into an `Outcome`. */
export type Verdict =
  | {
      kind: 'pass';
      photodna: PhotoDnaResult;
      /** Indexes (into the uploads) of matched files under 'flag': their bytes never reach the handler. */
      withheld: number[];
    }
  | { kind: 'reject'; error: GuardError; file?: RejectEvent['file'] }
  | { kind: 'aborted' };
