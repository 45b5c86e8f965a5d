import { channel } from 'node:diagnostics_channel';
import type { UnavailableReason } from '../errors.js';
import type { Operation } from './execute.js';

/**
 * One message per PhotoDNA attempt on the `photodna-guard:attempt` diagnostics channel (as
 * undici publishes its requests): what metrics need (calls/s, 429s, retries, latency), at no
 * cost when nobody subscribes. Never carries bytes, keys or bodies.
 */
export interface AttemptMessage {
  /**
   * The client that made the attempt: an opaque object, one per `PhotoDnaClient`, to tell apart
   * the attempts of several clients in one process (compare by reference; it holds nothing).
   */
  client: object;
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

const identities = new WeakMap<object, object>();

/** The `client` identity of `client`'s attempt messages (made on first ask). */
export function clientIdentity(client: object): object {
  let identity = identities.get(client);
  if (!identity) {
    identity = Object.freeze({});
    identities.set(client, identity);
  }
  return identity;
}
