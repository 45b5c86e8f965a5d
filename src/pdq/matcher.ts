/**
 * `createPdqMatcher(options)`: a `Matcher` (the guard's back-end seam) that hashes each file
 * with PDQ and looks the hash up in local lists. No PhotoDNA key, no network.
 */
import { randomUUID } from 'node:crypto';
import { GuardError } from '../errors.js';
import { parseWith } from '../parse-options.js';
import type { Matcher, MatchFlag, MatchRequest, MatchResult } from '../types.js';
import { DIHEDRAL_NAMES } from './bits.js';
import type { PdqView } from './compute.js';
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

/**
 * One way the image is seen: its stored pixels (with their rotations and flips under `dihedral`),
 * or as a viewer shows it (turned, over a page); its hashes and their quality.
 */
interface View {
  hashes: string[];
  quality: number;
}

function viewsShown(shown: PdqView[] | undefined): View[] {
  return (shown ?? []).map(({ hash, quality }) => ({ hashes: [hash], quality }));
}

/** The upload's own PDQ facts, for events and records. */
export interface PdqFacts {
  /** 64 hex digits. */
  hash: string;
  /**
   * 0–100, of the stored pixels; below `minQuality` they are never a match (nor is a view of the
   * image as shown whose own quality is below it).
   */
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
    let facts: PdqFacts;
    let views: View[];
    try {
      if (dihedral) {
        const result = await pdqHashDihedral(bytes, options);
        facts = { hash: result.hash, quality: result.quality };
        const hashes = DIHEDRAL_NAMES.map((name) => result.dihedral[name]);
        views = [{ hashes, quality: result.quality }, ...viewsShown(result.shown)];
      } else {
        const result = await pdqHash(bytes, options);
        facts = { hash: result.hash, quality: result.quality };
        views = [{ hashes: [result.hash], quality: result.quality }, ...viewsShown(result.shown)];
      }
    } catch (error) {
      throw toGuardError(error);
    }
    const trackingId = `pdq-${randomUUID()}`;
    // Each view on its own: its own quality, and its own nearest allow-list and listed hashes. A
    // view near a released false positive must not excuse another (colour channels of a released
    // image under an alpha channel that shows a listed one on a white page).
    const best = new Map<string, PdqHit<ListedHash>>();
    let allowedBy: { name: string; distance: number } | undefined;
    for (const view of views) {
      if (view.quality < minQuality) continue;
      const hits = this.#nearestListed(view.hashes, threshold);
      const allowed = this.#nearestAllowed(view.hashes, this.#options.allowThreshold ?? threshold);
      // A released false positive allows what is at least as near to it as to every listed hash,
      // never the listed image itself (within the allow threshold of it too, as any near false
      // positive is). A listed hash released as it is allows itself: the host's own decision.
      const nearestListed = Math.min(...[...hits.values()].map((hit) => hit.distance));
      if (allowed && allowed.distance <= nearestListed) {
        if (!allowedBy || allowed.distance < allowedBy.distance) allowedBy = allowed;
        continue;
      }
      for (const [name, hit] of hits) {
        const kept = best.get(name);
        if (!kept || hit.distance < kept.distance) best.set(name, hit);
      }
    }
    const matchFlags: PdqMatchFlag[] = [...best].map(([name, hit]) => ({
      source: name,
      violations: violationsOf(hit.entry.metadata),
      matchDistance: hit.distance,
      matchId: hit.hash,
      metadata: hit.entry.metadata,
    }));
    matchFlags.sort((a, b) => a.matchDistance - b.matchDistance);
    if (matchFlags.length === 0 && allowedBy) {
      return {
        isMatch: false,
        trackingId,
        matchFlags,
        pdq: { ...facts, allowedBy: allowedBy.name },
      };
    }
    return { isMatch: matchFlags.length > 0, trackingId, matchFlags, pdq: facts };
  }

  /** Each list's hash nearest to any of `hashes` within `threshold`, by list name. */
  #nearestListed(hashes: readonly string[], threshold: number): Map<string, PdqHit<ListedHash>> {
    const hits = new Map<string, PdqHit<ListedHash>>();
    for (const [name, index] of this.#lists.indexes()) {
      for (const hash of hashes) {
        const hit = index.search(hash, threshold)[0];
        const kept = hits.get(name);
        if (hit && (!kept || hit.distance < kept.distance)) hits.set(name, hit);
      }
    }
    return hits;
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
