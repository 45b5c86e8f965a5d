import type { EmulatorCall } from '../../src/emulator/types.js';
import { busiestWindow } from '../../test/helpers/call-log.js';

/** Figures from the emulator's call log (`emulator.calls`). */

export function spanMs(calls: readonly EmulatorCall[]): number {
  const first = calls[0]?.at ?? 0;
  const last = calls[calls.length - 1]?.at ?? 0;
  return last - first;
}

/** Calls per second from the first to the last call: (n - 1) intervals over that span. */
export function callsPerSecond(calls: readonly EmulatorCall[]): number {
  const span = spanMs(calls);
  return calls.length < 2 || span <= 0 ? Number.NaN : ((calls.length - 1) / span) * 1000;
}

/**
 * The shortest time from one call to the `perSecond`-th accepted call after it: below 1000 ms
 * the later one is refused (the emulator's one-second sliding window).
 */
export function tightestWindowMs(calls: readonly EmulatorCall[], perSecond: number): number {
  let tightest = Number.POSITIVE_INFINITY;
  const accepted = calls.filter((c) => c.httpStatus === 200);
  for (const call of calls) {
    const earlier = accepted.filter((c) => c.at <= call.at && c !== call);
    const first = earlier[earlier.length - perSecond];
    if (first) tightest = Math.min(tightest, call.at - first.at);
  }
  return tightest;
}

/** The most accepted calls that arrived within one second (the emulator refuses above its limit). */
export function busiestSecond(calls: readonly EmulatorCall[]): number {
  return busiestWindow(calls.filter((c) => c.httpStatus === 200).map((c) => c.at));
}
