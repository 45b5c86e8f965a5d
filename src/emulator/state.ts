import { randomBytes } from 'node:crypto';
import { FaultPlan } from './faults.js';
import type { KnownList } from './known.js';
import type { ResolvedOptions } from './options.js';
import { RateLimiter } from './rate-limit.js';
import { pushBounded, retainedReport } from './report-log.js';
import type { EmulatorCall, EmulatorReport } from './types.js';

/** Calls kept for `calls` / `GET /__emulator/calls`; the oldest tenth is dropped beyond this. */
export const MAX_RECORDED_CALLS = 100_000;

/** Everything one running emulator holds. The arrays are cleared in place, never replaced. */
export interface EmulatorState {
  readonly options: ResolvedOptions;
  readonly known: KnownList;
  readonly rateLimiter: RateLimiter;
  readonly faults: FaultPlan;
  latencyMs: number;
  /** The secret admin routes need (`adminToken` option, else random). */
  readonly adminToken: string;
  /** The port listened on, once listening: the URL form may fetch this emulator's test images. */
  port: number;
  readonly calls: EmulatorCall[];
  readonly reports: EmulatorReport[];
  readonly testReports: EmulatorReport[];
  /** Aborted by `close()`: ends delays, URL downloads and hanging answers. */
  readonly closing: AbortController;
}

export function createState(options: ResolvedOptions, known: KnownList): EmulatorState {
  return {
    options,
    known,
    rateLimiter: new RateLimiter(options.rateLimit),
    faults: new FaultPlan({ faults: options.faults, errorRate: options.errorRate }),
    latencyMs: options.latencyMs,
    adminToken: options.adminToken ?? randomBytes(24).toString('base64url'),
    port: 0,
    calls: [],
    reports: [],
    testReports: [],
    closing: new AbortController(),
  };
}

export function recordCall(state: EmulatorState, call: EmulatorCall): void {
  if (state.calls.length >= MAX_RECORDED_CALLS) state.calls.splice(0, MAX_RECORDED_CALLS / 10);
  state.calls.push(call);
}

/** Keeps an accepted report within the `reportLog` bounds. */
export function recordReport(state: EmulatorState, report: EmulatorReport): void {
  const list = report.isTest ? state.testReports : state.reports;
  const limits = state.options.reportLog;
  pushBounded(list, retainedReport(report, limits), limits.max);
}

/**
 * `POST /__emulator/reset`: forgets calls and reports, empties the fault queue, removes the error
 * rate and the added latency, and restarts the rate-limit windows. The known list stays.
 */
export function resetState(state: EmulatorState): void {
  state.calls.length = 0;
  state.reports.length = 0;
  state.testReports.length = 0;
  state.faults.clear();
  state.latencyMs = 0;
  state.rateLimiter.reset();
}
