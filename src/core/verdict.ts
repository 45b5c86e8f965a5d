import type { GuardError } from '../errors.js';
import type { RejectEvent } from '../events.js';
import type { PhotoDnaResult } from '../types.js';
import type { MatchedFile } from './handle-matches.js';

/** What scanning the files came to, before `decide` turns it into an `Outcome`. */
export type Verdict =
  | {
      kind: 'pass';
      photodna: PhotoDnaResult;
      /** Indexes (into the uploads) of matched files under 'flag': their bytes never reach the handler. */
      withheld: number[];
      /** Those matched files, for a stricter route guard behind this one to quarantine. */
      flagged: readonly MatchedFile[];
    }
  | { kind: 'reject'; error: GuardError; file?: RejectEvent['file'] }
  | { kind: 'aborted' };
