import { assertFault } from './fault-schema.js';
import { type ApiAnswer, apimError, matchResult, status, trackingId } from './responses.js';
import type { EmulatorFaults, FaultSpec } from './types.js';

/** The queue of injected faults and the random error rate behind it. */
export class FaultPlan implements EmulatorFaults {
  private queue: FaultSpec[];
  private errorRate: { rate: number; fault: FaultSpec } | undefined;

  constructor(
    initial: {
      faults?: FaultSpec[];
      errorRate?: { rate: number; fault: FaultSpec } | undefined;
    } = {},
    private readonly random: () => number = Math.random,
  ) {
    this.queue = [...(initial.faults ?? [])];
    this.errorRate = initial.errorRate;
  }

  get pending(): number {
    return this.queue.length;
  }

  push(...faults: FaultSpec[]): void {
    for (const fault of faults) assertFault(fault);
    this.queue.push(...faults);
  }

  /** Replaces the queue (the admin route's `sequence`). */
  replace(faults: FaultSpec[]): void {
    this.queue = [...faults];
  }

  clear(): void {
    this.queue = [];
    this.errorRate = undefined;
  }

  setErrorRate(rate: number, fault: FaultSpec): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError('rate must be between 0 and 1');
    assertFault(fault);
    this.errorRate = rate === 0 ? undefined : { rate, fault };
  }

  clearErrorRate(): void {
    this.errorRate = undefined;
  }

  describe(): { pending: number; errorRate: { rate: number; fault: FaultSpec } | null } {
    return { pending: this.queue.length, errorRate: this.errorRate ?? null };
  }

  /** The fault for the next Match/MatchHash call: the queue first, then the error rate. */
  next(): FaultSpec | undefined {
    const queued = this.queue.shift();
    if (queued) return queued;
    if (this.errorRate && this.random() < this.errorRate.rate) return this.errorRate.fault;
    return undefined;
  }
}

/** Not JSON, though it says so: a truncated PhotoDNA answer. */
const MALFORMED_BODY =
  '{"Status":{"Code":3000,"Description":"OK","Exception":null},"TrackingId":"1_photodna_';

/** Valid JSON of a shape no PhotoDNA client expects. */
const WRONG_SHAPE_BODY = { status: 'ok', result: [3000], IsMatch: 'maybe', MatchDetails: 42 };

/**
 * The answer a fault stands for, or `undefined` for faults that do not replace the answer
 * (`latency`) or send none (`reset`, `hang`: the server handles those).
 * `hashCount` shapes a `code` fault on MatchHash as one result per submitted hash.
 */
export function faultAnswer(
  fault: FaultSpec,
  operation: 'match' | 'match-hash',
  hashCount = 0,
): ApiAnswer | undefined {
  switch (fault.type) {
    case 'status':
      return apimError(fault.status, fault.retryAfter);
    case 'code': {
      if (operation === 'match') {
        return {
          httpStatus: 200,
          statusCode: fault.code,
          isMatch: false,
          body: matchResult(fault.code, [], { trackingId: trackingId(), evaluate: null }),
        };
      }
      const results = Array.from({ length: hashCount }, () => matchResult(fault.code));
      return {
        httpStatus: 200,
        statusCode: fault.code,
        isMatch: false,
        body: { TrackingId: trackingId(), Status: status(fault.code), MatchResults: results },
      };
    }
    case 'malformed':
      return { httpStatus: 200, body: MALFORMED_BODY };
    case 'shape':
      return { httpStatus: 200, body: WRONG_SHAPE_BODY };
    default:
      return undefined;
  }
}
