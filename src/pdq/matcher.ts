/**
 * `createPdqMatcher(options)`: a `Matcher` (the guard's back-end seam) that hashes each file
 * with PDQ and looks the hash up in local lists. No PhotoDNA key, no network.
 */
import { randomUUID } from 'node:crypto';
import { GuardError } from '../errors.js';
import { parseWith } from '../parse-options.js';
import type { Matcher, MatchFlag, MatchRequest, MatchResult } from '../types.js';
import { DIHEDRAL_NAMES } from './bits.js';
import { PdqDecodeError } from './decode.js';
import { type PdqHashOptions, pdqHash, pdqHashDihedral } from './hash.js';
import { type ListedHash, PdqListSet } from './list-set.js';
import { normalizeSources } from './list-source.js';
import {
  type PdqMatcherOptions,
  pdqMatcherSchema,
  type ResolvedPdqMatcherOptions,
} from './matcher-options.js';
import type { PdqHit } from './pdq-index.js';
import { SharpMissingError } from './sharp.js';

/** A match against one list: the closest hash of that list. */
export interface PdqMatchFlag extends MatchFlag {
  /** The list's name. */
  source: string;
  /** From a `violations` CSV column (split on `,;| `), else empty. */
  violations: string[];
  /** Hamming distance (0–256 bits) between the upload's hash and the list's hash. */
  matchDistance: number;
  /** The list's hash that matched (64 hex digits). */
  matchId: string;
  /** The metadata the list file gave that hash (CSV columns, or a line's trailing note). */
  metadata: Readonly<Record<string, string>>;
}

/** The upload's own PDQ facts, for events and records. */
export interface PdqFacts {
  /** 64 hex digits. */
  hash: string;
  /** 0–100; below `minQuality` the file is never a match. */
  quality: number;
  /** The allow-list that suppressed a match, when one did. */
  allowedBy?: string;
}

export interface PdqMatchResult extends MatchResult {
  matchFlags: PdqMatchFlag[];
  pdq: PdqFacts;
}

export interface PdqMatcher extends Matcher {
  match(request: MatchRequest): Promise<PdqMatchResult>;
  /** Resolves when every list has loaded once; rejects with the first list that could not. */
  readonly ready: Promise<void>;
  /** Hashes and looks up image bytes outside a request (CLI, backfills). */
  matchBytes(bytes: Buffer, signal?: AbortSignal): Promise<PdqMatchResult>;
  /** Reloads a list (or allow-list) by name now. */
  reload(name: string): Promise<void>;
  /** The loaded lists and their sizes. */
  lists(): Array<{ name: string; size: number; allowList: boolean }>;
  /** Stops watching the list files. */
  close(): Promise<void>;
}

function violationsOf(metadata: Readonly<Record<string, string>>): string[] {
  const raw = metadata.violations;
  return raw ? raw.split(/[,;|\s]+/).filter((v) => v !== '') : [];
}

function toGuardError(error: unknown): unknown {
  if (error instanceof SharpMissingError) {
    return new GuardError('SCAN_UNAVAILABLE', {
      reason: 'not-configured',
      detail: error.message,
      cause: error,
    });
  }
  if (error instanceof PdqDecodeError) {
    const code = error.kind === 'too-many-pixels' ? 'IMAGE_TOO_LARGE' : 'INVALID_IMAGE';
    return new GuardError(code, { detail: `PDQ: ${error.message}`, cause: error });
  }
  return error;
}

class PdqMatcherImpl implements PdqMatcher {
  readonly ready: Promise<void>;
  readonly #options: ResolvedPdqMatcherOptions;
  readonly #lists: PdqListSet;
  readonly #allow: PdqListSet;

  constructor(options: ResolvedPdqMatcherOptions) {
    this.#options = options;
    const { logger } = options;
    const settings = {
      watch: options.watch,
      pollIntervalMs: options.pollIntervalMs,
      debounceMs: options.debounceMs,
      onReload: (info: { list: string; size: number }) => {
        logger?.info({ list: info.list, size: info.size }, 'PDQ list loaded');
        options.onReload?.(info);
      },
      onError: (error: Error) => {
        logger?.error({ err: error }, 'PDQ list could not be reloaded; keeping the previous one');
        options.onError?.(error);
      },
    };
    this.#lists = new PdqListSet(normalizeSources(options.lists), {
      ...settings,
      refuseEmpty: true,
    });
    this.#allow = new PdqListSet(normalizeSources(options.allowLists), settings);
    this.ready = Promise.all([this.#lists.ready, this.#allow.ready]).then(() => {});
    this.ready.catch(() => {});
  }

  match(request: MatchRequest): Promise<PdqMatchResult> {
    return this.#matchBytes(request.bytes, {
      type: request.contentType,
      signal: request.signal,
    });
  }

  matchBytes(bytes: Buffer, signal?: AbortSignal): Promise<PdqMatchResult> {
    return this.#matchBytes(bytes, signal ? { signal } : {});
  }

  async #matchBytes(bytes: Buffer, hashOptions: PdqHashOptions): Promise<PdqMatchResult> {
    if (!this.#lists.complete || !this.#allow.complete) {
      const error = await this.ready.then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!this.#lists.complete || !this.#allow.complete) {
        throw new GuardError('SCAN_UNAVAILABLE', {
          reason: 'not-configured',
          detail: `PDQ lists not loaded: ${error instanceof Error ? error.message : String(error)}`,
          cause: error,
        });
      }
    }
    const { maxPixels, pool, dihedral, threshold, minQuality } = this.#options;
    const options: PdqHashOptions = { ...hashOptions, maxPixels };
    if (pool !== undefined) options.pool = pool;
    let hashes: string[];
    let facts: PdqFacts;
    try {
      if (dihedral) {
        const result = await pdqHashDihedral(bytes, options);
        facts = { hash: result.hash, quality: result.quality };
        hashes = [...DIHEDRAL_NAMES.map((name) => result.dihedral[name]), ...(result.shown ?? [])];
      } else {
        const result = await pdqHash(bytes, options);
        facts = { hash: result.hash, quality: result.quality };
        hashes = [result.hash, ...(result.shown ?? [])];
      }
    } catch (error) {
      throw toGuardError(error);
    }
    hashes = [...new Set(hashes)];
    const trackingId = `pdq-${randomUUID()}`;
    if (facts.quality < minQuality)
      return { isMatch: false, trackingId, matchFlags: [], pdq: facts };

    const allowed = this.#nearestAllowed(hashes, this.#options.allowThreshold ?? threshold);
    const matchFlags: PdqMatchFlag[] = [];
    for (const [name, index] of this.#lists.indexes()) {
      let best: PdqHit<ListedHash> | undefined;
      for (const hash of hashes) {
        const hit = index.search(hash, threshold)[0];
        if (hit && (!best || hit.distance < best.distance)) best = hit;
      }
      if (best) {
        matchFlags.push({
          source: name,
          violations: violationsOf(best.entry.metadata),
          matchDistance: best.distance,
          matchId: best.hash,
          metadata: best.entry.metadata,
        });
      }
    }
    matchFlags.sort((a, b) => a.matchDistance - b.matchDistance);
    // A released false positive allows what is at least as near to it as to every listed hash,
    // never the listed image itself (within the allow threshold of it too, as any near false
    // positive is). A listed hash released as it is allows itself: the host's own decision.
    const nearestListed = matchFlags[0]?.matchDistance;
    if (allowed && (nearestListed === undefined || allowed.distance <= nearestListed)) {
      return {
        isMatch: false,
        trackingId,
        matchFlags: [],
        pdq: { ...facts, allowedBy: allowed.name },
      };
    }
    return { isMatch: matchFlags.length > 0, trackingId, matchFlags, pdq: facts };
  }

  /** The allow-list hash nearest to any of `hashes` within `threshold`, and its list. */
  #nearestAllowed(
    hashes: readonly string[],
    threshold: number,
  ): { name: string; distance: number } | undefined {
    let nearest: { name: string; distance: number } | undefined;
    for (const [name, index] of this.#allow.indexes()) {
      for (const hash of hashes) {
        const hit = index.search(hash, threshold)[0];
        if (hit && (!nearest || hit.distance < nearest.distance)) {
          nearest = { name, distance: hit.distance };
        }
      }
    }
    return nearest;
  }

  reload(name: string): Promise<void> {
    const inLists = this.#lists.indexes().has(name) || this.#hasSource(this.#options.lists, name);
    return inLists ? this.#lists.reload(name) : this.#allow.reload(name);
  }

  #hasSource(lists: ResolvedPdqMatcherOptions['lists'], name: string): boolean {
    return normalizeSources(lists).some((source) => source.name === name);
  }

  lists(): Array<{ name: string; size: number; allowList: boolean }> {
    const describe = (set: PdqListSet, allowList: boolean) =>
      [...set.indexes()].map(([name, index]) => ({ name, size: index.size, allowList }));
    return [...describe(this.#lists, false), ...describe(this.#allow, true)];
  }

  async close(): Promise<void> {
    this.#lists.close();
    this.#allow.close();
  }
}

/**
 * A PDQ matcher for the guard's `matcher` option (or on its own): hashes each file at full
 * resolution and reports a match per list whose closest hash is within `threshold`. Throws
 * `InvalidOptionsError` for invalid options; a list that fails to load makes `ready` reject and
 * `match` throw `SCAN_UNAVAILABLE` (fail closed) until it loads.
 */
export function createPdqMatcher(options: PdqMatcherOptions): PdqMatcher {
  return new PdqMatcherImpl(parseWith(pdqMatcherSchema, options, 'createPdqMatcher'));
}
