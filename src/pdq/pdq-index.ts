/**
 * Hamming-distance search over PDQ hashes by multi-index hashing (Norouzi et al.): each 256-bit
 * hash is cut into 16 chunks of 16 bits, and each chunk position gets a table from chunk value
 * to the hashes holding it. Two hashes within distance `t` agree to within `floor(t / 16)` bits
 * on at least one chunk (pigeonhole), so a search probes every chunk value within that radius
 * (1 + 16 values per chunk at the default threshold 31), verifies the candidates with a full
 * popcount, and returns every hash within `t`: the exact answer of a linear scan, far faster
 * (bench/README.md). Beyond radius 2 (`t >= 48`) it scans linearly.
 */
import { hexToWords, wordsToHex } from './hash-hex.js';

const CHUNKS = 16;
const CHUNK_VALUES = 1 << 16;
const MAX_RADIUS = 2;

/** XOR masks of 16 bits with at most `radius` bits set, fewest first. */
const PROBES: readonly Uint16Array[] = (() => {
  const byRadius: number[][] = [[0], [], []];
  for (let m = 1; m < CHUNK_VALUES; m++) {
    let bits = 0;
    for (let v = m; v; v &= v - 1) bits++;
    if (bits <= MAX_RADIUS) (byRadius[bits] as number[]).push(m);
  }
  return [0, 1, 2].map((r) => Uint16Array.from(byRadius.slice(0, r + 1).flat()));
})();

/**
 * Set bits of a 32-bit integer. Kept in this module on purpose: a local function inlines into the
 * loops below, where a call through another module's binding (as CommonJS loaders such as tsx
 * compile it) cost 5x in the scan.
 */
function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/**
 * Hamming distance between `query` and the hash at `words[at..at+8)`, or some value above
 * `maxDistance` as soon as the first half already exceeds it (most candidates stop there).
 */
function distanceAt(
  query: Uint32Array,
  words: Uint32Array,
  at: number,
  maxDistance: number,
): number {
  const half =
    popcount32((query[0] as number) ^ (words[at] as number)) +
    popcount32((query[1] as number) ^ (words[at + 1] as number)) +
    popcount32((query[2] as number) ^ (words[at + 2] as number)) +
    popcount32((query[3] as number) ^ (words[at + 3] as number));
  if (half > maxDistance) return half;
  return (
    half +
    popcount32((query[4] as number) ^ (words[at + 4] as number)) +
    popcount32((query[5] as number) ^ (words[at + 5] as number)) +
    popcount32((query[6] as number) ^ (words[at + 6] as number)) +
    popcount32((query[7] as number) ^ (words[at + 7] as number))
  );
}

/** Hamming distance (0–256) between two hex hashes. */
export function pdqDistance(a: string, b: string): number {
  return distanceAt(hexToWords(a), hexToWords(b), 0, 256);
}

/** The hashes' words, then per chunk the CSR offsets and entry ids. */
type BuiltTables = [Uint32Array, Uint32Array[], Uint32Array[]];

/** One hash found by a search. */
export interface PdqHit<T> {
  /** Position of the entry in the index (insertion order). */
  index: number;
  /** The entry's hash, 64 hex digits. */
  hash: string;
  /** Hamming distance to the query, 0–256. */
  distance: number;
  entry: T;
}

/** An immutable index of PDQ hashes, each with a value of type `T`. */
/** Hashes read into the index's tables between two yields of `PdqIndex.create`. */
const HASHES_PER_TURN = 65_536;

export class PdqIndex<T = undefined> {
  readonly size: number;
  readonly #words: Uint32Array;
  readonly #entries: readonly T[];
  /** Per chunk: start offsets by chunk value (CSR) and the entry ids. */
  readonly #offsets: Uint32Array[];
  readonly #ids: Uint32Array[];
  /** One chunk's candidate ids during a search (reused; a search runs to the end synchronously). */
  #candidates = new Uint32Array(1024);
  /** What the touching pass read, kept so that the pass is not optimised away. */
  #touched = 0;

  /**
   * Builds the index; throws a `TypeError` naming the first malformed hash. (`built` is internal:
   * the tables `PdqIndex.create` made.)
   */
  constructor(items: ReadonlyArray<{ hash: string; entry: T }>, built?: BuiltTables) {
    let tables = built;
    if (!tables) {
      const build = PdqIndex.#build(items);
      let step = build.next();
      while (!step.done) step = build.next();
      tables = step.value;
    }
    [this.#words, this.#offsets, this.#ids] = tables;
    this.size = items.length;
    this.#entries = items.map((item) => item.entry);
  }

  /**
   * Builds the index like the constructor, yielding to the event loop every 65,536 hashes read
   * and between chunk tables, so that building it for a million hashes never blocks requests for
   * long. (Parsing a list file's text, `parsePdqList`, runs in one go before.)
   */
  static async create<T>(items: ReadonlyArray<{ hash: string; entry: T }>): Promise<PdqIndex<T>> {
    const build = PdqIndex.#build(items);
    let step = build.next();
    while (!step.done) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      step = build.next();
    }
    return new PdqIndex(items, step.value);
  }

  static *#build(items: ReadonlyArray<{ hash: string }>): Generator<void, BuiltTables> {
    const n = items.length;
    const words = new Uint32Array(n * 8);
    for (let i = 0; i < n; i++) {
      hexToWords((items[i] as { hash: string }).hash, words, i * 8);
      if (i % HASHES_PER_TURN === HASHES_PER_TURN - 1) yield;
    }
    const allOffsets: Uint32Array[] = [];
    const allIds: Uint32Array[] = [];
    for (let c = 0; c < CHUNKS; c++) {
      yield;
      const half = c & 1;
      const at = c >> 1;
      const chunk = (i: number) => {
        const word = words[i * 8 + at] as number;
        return half ? word & 0xffff : word >>> 16;
      };
      const offsets = new Uint32Array(CHUNK_VALUES + 1);
      for (let i = 0; i < n; i++) {
        const slot = chunk(i) + 1;
        offsets[slot] = (offsets[slot] as number) + 1;
      }
      for (let v = 0; v < CHUNK_VALUES; v++) {
        offsets[v + 1] = (offsets[v + 1] as number) + (offsets[v] as number);
      }
      const fill = offsets.slice(0, CHUNK_VALUES);
      const ids = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const v = chunk(i);
        ids[fill[v] as number] = i;
        fill[v] = (fill[v] as number) + 1;
      }
      allOffsets.push(offsets);
      allIds.push(ids);
    }
    return [words, allOffsets, allIds];
  }

  /** Convenience: an index of bare hashes. */
  static of(hashes: readonly string[]): PdqIndex<undefined> {
    return new PdqIndex(hashes.map((hash) => ({ hash, entry: undefined })));
  }

  /** Every entry within `maxDistance` (inclusive) of `hash`, closest first. */
  search(hash: string, maxDistance = 31): PdqHit<T>[] {
    const query = hexToWords(hash);
    if (!Number.isInteger(maxDistance) || maxDistance < 0) {
      throw new RangeError(`maxDistance must be a non-negative integer, got ${maxDistance}`);
    }
    const radius = Math.floor(maxDistance / CHUNKS);
    if (radius > MAX_RADIUS) return this.scan(hash, maxDistance);
    const hits: PdqHit<T>[] = [];
    const probes = PROBES[radius] as Uint16Array;
    const found = new Set<number>();
    const words = this.#words;
    for (let c = 0; c < CHUNKS; c++) {
      const offsets = this.#offsets[c] as Uint32Array;
      const ids = this.#ids[c] as Uint32Array;
      const word = query[c >> 1] as number;
      const value = c & 1 ? word & 0xffff : word >>> 16;
      // This chunk's candidates first, then one tight pass that touches each one's hash: those
      // loads do not depend on each other, so the CPU keeps many cache misses in flight at once
      // (the hashes are far larger than the caches), and the verification below finds the lines
      // in cache instead of waiting for memory once per candidate.
      let count = 0;
      for (let p = 0; p < probes.length; p++) {
        const v = value ^ (probes[p] as number);
        count = this.#collect(ids, offsets[v] as number, offsets[v + 1] as number, count);
      }
      const candidates = this.#candidates;
      let touched = 0;
      for (let j = 0; j < count; j++) touched ^= words[(candidates[j] as number) * 8] as number;
      this.#touched ^= touched;
      for (let j = 0; j < count; j++) {
        const id = candidates[j] as number;
        const distance = distanceAt(query, words, id * 8, maxDistance);
        // A near hash shares several chunks with the query: keep its first sighting only.
        if (distance <= maxDistance && !found.has(id)) {
          found.add(id);
          this.#hit(id, distance, hits);
        }
      }
    }
    return hits.sort((a, b) => a.distance - b.distance || a.index - b.index);
  }

  /** The same answer as `search`, by comparing with every entry (a baseline for tests and benchmarks). */
  scan(hash: string, maxDistance = 31): PdqHit<T>[] {
    const query = hexToWords(hash);
    const hits: PdqHit<T>[] = [];
    const words = this.#words;
    for (let i = 0, at = 0; i < this.size; i++, at += 8) {
      const distance = distanceAt(query, words, at, maxDistance);
      if (distance <= maxDistance) this.#hit(i, distance, hits);
    }
    return hits.sort((a, b) => a.distance - b.distance || a.index - b.index);
  }

  /** Appends `ids[start..end)` to the candidates from position `count`; the new count. */
  #collect(ids: Uint32Array, start: number, end: number, count: number): number {
    const needed = count + (end - start);
    if (needed > this.#candidates.length) {
      const grown = new Uint32Array(Math.max(needed, this.#candidates.length * 2));
      grown.set(this.#candidates.subarray(0, count));
      this.#candidates = grown;
    }
    const candidates = this.#candidates;
    for (let k = start, j = count; k < end; k++, j++) candidates[j] = ids[k] as number;
    return needed;
  }

  #hit(id: number, distance: number, hits: PdqHit<T>[]): void {
    hits.push({
      index: id,
      hash: wordsToHex(this.#words, id * 8),
      distance,
      entry: this.#entries[id] as T,
    });
  }
}
