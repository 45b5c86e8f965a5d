import { channel } from 'node:diagnostics_channel';
import type { UnavailableReason } from '../errors.js';
import type { Operation } from './execute.js';

/**
 * One message per PhotoDNA attempt on the `photodna-guard:attempt` diagnostics channel (as
 * undici publishes its requests): what metrics need (calls/s, 429s, retries, latency), at no
 * cost when nobody subscribes. Never carries bytes, keys or bodies.
 */
export interface AttemptMessage {
  operation: Operation;
  /** 1 for the first attempt; more is a retry. */
  attempt: number;
  /** The HTTP status, when there was an answer. */
  httpStatus: number | undefined;
  ok: boolean;
  reason: UnavailableReason | undefined;
  /** From the request's start to its answer (not the rate-limiter wait), in ms. */
  durationMs: number;
}

export const ATTEMPT_CHANNEL = 'photodna-guard:attempt';
export const attemptChannel = channel(ATTEMPT_CHANNEL);
