/**
 * How fast the console's token can be guessed, without letting a guesser lock the moderators
 * out. Failed logins are counted per client (an IPv4 address, an IPv6 /64: `addressBlock`) and
 * in all, over a sliding minute:
 *
 * - A client that failed 10 times is refused (429) without its token being read until its
 *   oldest failure is a minute old. Other clients go on as before: a flood from one address locks
 *   that address only.
 * - Once all clients together failed 100 times, clients that are not familiar are refused the
 *   same way. A familiar client (one that gave the right token within 30 days) is held to its own
 *   budget only, so moderators logging in from where they did before get in during a flood from
 *   many addresses; a moderator at a new address waits it out with everyone else.
 *
 * The ceiling refuses the right token too: it cannot be told from a guess before it is checked,
 * and every check is a guess. Admitting a right token over the ceiling means checking every
 * token there, and the ceiling would bound nothing. A refusal is decided on the address alone,
 * before the body is read, so it takes the same time and says the same whatever the token.
 *
 * Why 100 a minute in all is safe: a token has at least 16 characters. Drawn at random from
 * base64url's 64 it holds 96 bits; 100 guesses a minute are 52.6 million a year, a chance of
 * about 2^-70 of finding it within the year. Even 16 random decimal digits (53 bits) give
 * 5 × 10^-9 a year. Familiar clients add at most 10 a minute each, and only someone holding the
 * token makes a client familiar (at most 100 at once): 1,100 a minute at the very worst, still
 * 6 × 10^-8 a year against the digits. What no rate limit saves is a token that is not random
 * (a word, a name): the 16-character minimum counts characters, not chance. Against the one lock
 * for everyone this replaces (10 a minute), a guesser with ten or more addresses tries ten times
 * as fast: 3.3 bits, where 27 remain over a year even against 16 random digits.
 *
 * Memory: a client is on record only while it has a failure within the minute. Failures are
 * counted only below the ceiling, or from a familiar client, so at most 100 unfamiliar clients
 * plus the familiar ones are on record, whatever the number of addresses flooding (clients whose
 * last failure is a minute old are dropped, the stalest first, on every try).
 */
import { addressBlock } from '../core/client-address.js';

/** Failed token logins one client (an IPv4 address, an IPv6 /64) may make in a minute. */
export const MAX_FAILED_LOGINS_PER_CLIENT = 10;
/** Failed token logins all clients together may make in a minute (familiar clients excepted). */
export const MAX_FAILED_LOGINS_IN_ALL = 100;

const WINDOW_MS = 60_000;
/** How long a client that gave the right token stays familiar. */
const FAMILIAR_MS = 30 * 24 * 3_600_000;
/** Familiar clients remembered at once; the one that logged in longest ago goes first. */
const MAX_FAMILIAR = 100;

export class LoginThrottle {
  /** Each client's failures within the minute, oldest first; the client failing longest ago first. */
  readonly #clients = new Map<string, number[]>();
  /** Every failure within the minute, oldest first. */
  readonly #all: number[] = [];
  /** Familiar clients and when they stop being so; the one that logged in longest ago first. */
  readonly #familiar = new Map<string, number>();

  /**
   * Counts a login from `address` as failed, before its token is read (so that concurrent tries
   * all count: checked after the read, any number of them would pass at once), and answers 0;
   * or, when it may not try now, answers the seconds to wait and counts nothing.
   */
  take(address: string, now = Date.now()): number {
    const client = addressBlock(address);
    this.#expire(now);
    const own = this.#clients.get(client) ?? [];
    while (own.length > 0 && (own[0] as number) <= now - WINDOW_MS) own.shift();
    if (own.length >= MAX_FAILED_LOGINS_PER_CLIENT) {
      return secondsUntilBelow(own, MAX_FAILED_LOGINS_PER_CLIENT, now);
    }
    if (this.#all.length >= MAX_FAILED_LOGINS_IN_ALL && !this.#isFamiliar(client, now)) {
      return secondsUntilBelow(this.#all, MAX_FAILED_LOGINS_IN_ALL, now);
    }
    own.push(now);
    this.#all.push(now);
    this.#clients.delete(client); // to the back: failing most recently
    this.#clients.set(client, own);
    return 0;
  }

  /** The login from `address` that `take` counted at `at` gave the right token. */
  succeeded(address: string, at: number, now = Date.now()): void {
    const client = addressBlock(address);
    const own = this.#clients.get(client);
    if (own) {
      removeOne(own, at);
      if (own.length === 0) this.#clients.delete(client);
    }
    removeOne(this.#all, at);
    this.#familiar.delete(client);
    this.#familiar.set(client, now + FAMILIAR_MS);
    if (this.#familiar.size > MAX_FAMILIAR) {
      const stalest = this.#familiar.keys().next().value;
      if (stalest !== undefined) this.#familiar.delete(stalest);
    }
  }

  /** Clients on record with a failure (for tests: the bound on memory). */
  get clientsOnRecord(): number {
    return this.#clients.size;
  }

  #isFamiliar(client: string, now: number): boolean {
    const until = this.#familiar.get(client);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#familiar.delete(client);
    return false;
  }

  /**
   * Drops failures a minute old. Clients go the stalest first, up to the first with a recent
   * failure; one whose latest failure was taken back by a right token may stay behind it a
   * minute longer.
   */
  #expire(now: number): void {
    const since = now - WINDOW_MS;
    while (this.#all.length > 0 && (this.#all[0] as number) <= since) this.#all.shift();
    for (const [client, times] of this.#clients) {
      if ((times.at(-1) ?? since) > since) break;
      this.#clients.delete(client);
    }
  }
}

/** Seconds (at least 1) until fewer than `max` of `times` (oldest first) are within the minute. */
function secondsUntilBelow(times: readonly number[], max: number, now: number): number {
  const freeing = times[times.length - max] as number;
  return Math.max(1, Math.ceil((freeing + WINDOW_MS - now) / 1000));
}

function removeOne(times: number[], at: number): void {
  const index = times.lastIndexOf(at);
  if (index >= 0) times.splice(index, 1);
}
