import { expect } from 'vitest';
import type {
  GuardEventName,
  Listener,
  MatchEvent,
  QuarantineEvent,
  RejectEvent,
  ScanEvent,
} from '../../src/events.js';
import { postFiles } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';

/** A guard or a scan worker: whatever emits the guard's events. */
interface Emitter {
  on<E extends GuardEventName>(name: E, listener: Listener<E>): unknown;
}

/** What became of the jobs a guard or a worker ran: its outcome events, in the order they came. */
export interface Outcomes {
  scans: ScanEvent[];
  matches: MatchEvent[];
  rejects: RejectEvent[];
  quarantined: QuarantineEvent[];
}

/**
 * Records `source`'s `scan`, `match`, `reject` and `quarantine` events: what a job that must
 * never run (its request refused) would show if it ran.
 */
export function recordOutcomes(source: Emitter): Outcomes {
  const seen: Outcomes = { scans: [], matches: [], rejects: [], quarantined: [] };
  source.on('scan', (e) => void seen.scans.push(e));
  source.on('match', (e) => void seen.matches.push(e));
  source.on('reject', (e) => void seen.rejects.push(e));
  source.on('quarantine', (e) => void seen.quarantined.push(e));
  return seen;
}

/**
 * `files` uploaded to the guard at `url` and accepted (200), a `scanId` each: those `scanId`s,
 * once `seen` holds the `scan` of every one (their jobs ran).
 */
export async function uploadAccepted(
  url: string,
  seen: Outcomes,
  ...files: Buffer[]
): Promise<string[]> {
  const accepted = await postFiles(url, ...files);
  expect(accepted.status).toBe(200);
  const scanIds = (accepted.body.photodna.files as Array<{ scanId: string }>).map((f) => f.scanId);
  expect(scanIds).toHaveLength(files.length);
  await until(
    () => scanIds.every((id) => seen.scans.some((e) => e.scanId === id)),
    'the accepted files scanned',
  );
  return scanIds;
}
