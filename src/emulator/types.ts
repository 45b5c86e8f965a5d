/**
 * The emulator's public types. `startEmulator` validates `EmulatorOptions` once, with the schema
 * in `options.ts`; a type test there keeps this interface and the schema in step.
 */

/** One injected failure, consumed by one Match or MatchHash call. */
export type FaultSpec =
  /**
   * An API Management error: HTTP `status` with the body `{statusCode, message}`, and a
   * `Retry-After` header when `retryAfter` is given (always for 429, where it defaults to 1).
   */
  | { type: 'status'; status: number; retryAfter?: number }
  /** HTTP 200 with a PhotoDNA body whose `Status.Code` is `code` (e.g. 3004). */
  | { type: 'code'; code: number }
  /** The socket is destroyed without an answer. */
  | { type: 'reset' }
  /** No answer at all, until `close()`. */
  | { type: 'hang' }
  /** HTTP 200 with `Content-Type: application/json` and a body that is not JSON. */
  | { type: 'malformed' }
  /** HTTP 200 with valid JSON of the wrong shape. */
  | { type: 'shape' }
  /** The normal answer, `ms` milliseconds late (on top of `latencyMs`). */
  | { type: 'latency'; ms: number };

export type FaultType = FaultSpec['type'];

/** What `known` adds to the known list. */
export interface KnownItems {
  /** Images (bytes, or a file path; a directory adds every file in it) matched by SHA-256. */
  images?: Array<Buffer | string>;
  /** Hex SHA-256 of image bytes. */
  sha256?: string[];
  /** PhotoDNA hashes for MatchHash: base64 of 144 bytes. */
  hashes?: string[];
}

/** How much of the accepted reports the emulator keeps. */
export interface ReportLogOptions {
  /** Reports kept in each of `reports` and `testReports`; the oldest goes first. Defaults to `100`. */
  max?: number;
  /**
   * Base64 characters of images kept per report; images past it are replaced by a summary
   * (length and SHA-256). Defaults to 1,048,576 (about 768 KiB of image).
   */
  maxImageChars?: number;
}

export interface EmulatorOptions {
  /** Bounds what is kept of accepted reports, so a flood cannot exhaust memory. Defaults to 100 reports, 1 Mi base64 characters of images each. */
  reportLog?: ReportLogOptions;
  /** TCP port; 0 picks a free one. Defaults to `0`. */
  port?: number;
  /** Interface to listen on. Defaults to `'127.0.0.1'`. */
  host?: string;
  /** When set, only this subscription key is accepted. Defaults to any non-empty key. */
  apiKey?: string;
  /**
   * The secret the admin and log routes (`/__emulator/calls`, `reports`, `faults`, `reset`) need
   * as `Authorization: Bearer <token>` (the `apiKey`, when set, is accepted too). At least 16
   * characters. Defaults to a random token, readable as `emulator.adminToken`.
   */
  adminToken?: string;
  /** Images and hashes reported as matches. Defaults to none (besides the test images). */
  known?: KnownItems;
  /** Put the shipped synthetic test images (`testImages()`) on the known list. Defaults to `true`. */
  includeTestImages?: boolean;
  /**
   * Accepted requests per key in any sliding one-second window, for each API version, or
   * `false` for no limit. MatchHash counts as v1; Report is not limited.
   * Defaults to 5/s on v2 paths and 10/s on v1 paths.
   */
  rateLimit?: { perSecond: number } | false;
  /** Milliseconds added to every API answer (not admin routes). Defaults to `0`. */
  latencyMs?: number;
  /**
   * Faults consumed in order, one per Match/MatchHash call that passed the key check, the rate
   * limit and the body-size check (a 401, 429 or 413 consumes none; Report and admin routes never
   * consume one). Defaults to none.
   */
  faults?: FaultSpec[];
  /** A random fault (probability `rate`, 0..1) for calls that find the queue empty. Defaults to none. */
  errorRate?: { rate: number; fault: FaultSpec };
  /**
   * Hosts (`host` or `host:port`) the JSON URL form may fetch from, besides this emulator's own
   * test images (`/__emulator/test-images/...`, always allowed). Any other URL, loopback
   * included, answers 3002 without a fetch. Defaults to none.
   */
  urlAllowList?: string[];
  /**
   * Largest squared Euclidean distance between two 144-byte hashes that MatchHash reports as a
   * match. Defaults to `40000` (`DEFAULT_HASH_THRESHOLD`: a root-mean-square difference of about
   * 16.7 per byte).
   */
  hashThreshold?: number;
  /**
   * Also match edited copies of known images (re-encoded, resized, lightly cropped) by PDQ
   * distance, as the real service's robust hash would: `true` for a Hamming distance of at most
   * 31 between images of PDQ quality 50 or more, or `{ threshold?, minQuality? }`. The flag's
   * `MatchDistance` is then the PDQ distance. Needs the optional dependency `sharp`
   * (`startEmulator` rejects without it). Exact bytes always match. Defaults to `false`.
   */
  pdq?: boolean | { threshold?: number; minQuality?: number };
}

/** One API call, in arrival order (rejected ones included; unknown paths and admin routes not). */
export interface EmulatorCall {
  /** `Date.now()` when the request arrived. */
  at: number;
  operation: 'match-v1' | 'match-v2' | 'match-hash' | 'report';
  path: string;
  key?: string;
  contentType?: string;
  /** The HTTP status answered; 0 while pending and for `reset`/`hang` faults (no answer). */
  httpStatus: number;
  /** The PhotoDNA `Status.Code` answered (a MatchHash batch: its top-level code, 3000 when accepted). */
  statusCode?: number;
  fault?: FaultType;
  isMatch?: boolean;
}

/** One accepted Report. The `x-pwd` value is never stored. */
export interface EmulatorReport {
  receivedAt: Date;
  trackingId: string;
  /** The `x-usr` header. */
  ncmecUser?: string;
  /** Whether an `x-pwd` header was sent (its value is never kept). */
  ncmecPasswordPresent: boolean;
  /** Whether the body asked for NCMEC's test endpoint (`AdditionalMetadata` `IsTest=true`). */
  isTest: boolean;
  /** The parsed JSON body, as received. */
  body: unknown;
}

export interface EmulatorFaults {
  /** Appends to the fault queue. */
  push(...faults: FaultSpec[]): void;
  /** Empties the queue and removes the error rate. */
  clear(): void;
  /** Sets the random fault for calls that find the queue empty (rate 0 disables it). */
  setErrorRate(rate: number, fault: FaultSpec): void;
  /** How many faults are queued. */
  readonly pending: number;
}

export interface Emulator {
  /** Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  url: string;
  port: number;
  /** The secret of the admin and log routes (`Authorization: Bearer <adminToken>`). */
  adminToken: string;
  /** Stops the server, ending pending and hanging requests. Resolves when it is closed. */
  close(): Promise<void>;
  /**
   * Every API call in arrival order, rejected ones included (the latest 100,000; cleared by
   * `POST /__emulator/reset`).
   */
  calls: EmulatorCall[];
  /** Accepted reports without `IsTest=true` (the latest `reportLog.max`). */
  reports: EmulatorReport[];
  /** Accepted reports with `AdditionalMetadata` `IsTest=true` (the latest `reportLog.max`). */
  testReports: EmulatorReport[];
  faults: EmulatorFaults;
  setLatency(ms: number): void;
  addKnown(known: KnownItems): Promise<void>;
  /**
   * What `POST /__emulator/reset` does, without HTTP: forgets calls and reports, empties the fault
   * queue, removes the error rate and the added latency (those given to `startEmulator` too) and
   * restarts the rate-limit windows. The known list stays. Call it between tests that share one
   * emulator, so that a fault one test left queued or a window it filled cannot reach the next.
   */
  reset(): void;
}
