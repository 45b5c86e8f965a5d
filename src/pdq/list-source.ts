/**
 * Where a named hash list comes from (a file, or hashes given in code) and how to load it.
 */
import { readFile } from 'node:fs/promises';
import { type PdqListEntry, type PdqListFormat, parsePdqList } from './list-format.js';

/** A named list read from a file (one hash per line, or CSV with a header). */
export interface PdqListFile {
  /** Becomes the `source` of matches against this list. */
  name: string;
  path: string;
  /** Detected from the content unless given. */
  format?: PdqListFormat;
}

/** A named list given in code. */
export interface PdqListHashes {
  name: string;
  hashes: ReadonlyArray<string | PdqListEntry>;
}

export type PdqListSource = PdqListFile | PdqListHashes;

/** A loaded list. */
export interface PdqList {
  name: string;
  entries: PdqListEntry[];
}

/** Lists as an array of sources, or as `{ name: path }`. */
export type PdqListsOption = ReadonlyArray<PdqListSource> | Readonly<Record<string, string>>;

export function normalizeSources(lists: PdqListsOption | undefined): PdqListSource[] {
  if (lists === undefined) return [];
  const sources = Array.isArray(lists)
    ? [...(lists as ReadonlyArray<PdqListSource>)]
    : Object.entries(lists as Record<string, string>).map(([name, path]) => ({ name, path }));
  const seen = new Set<string>();
  for (const source of sources) {
    if (typeof source.name !== 'string' || source.name === '') {
      throw new TypeError('every PDQ list needs a non-empty name');
    }
    if (seen.has(source.name)) throw new TypeError(`two PDQ lists are named '${source.name}'`);
    seen.add(source.name);
  }
  return sources;
}

/** Reads and parses a list file; a malformed file rejects (with the path and line). */
export async function loadPdqList(source: PdqListSource | string): Promise<PdqList> {
  const resolved: PdqListSource =
    typeof source === 'string' ? { name: source, path: source } : source;
  if ('hashes' in resolved) {
    // Each given hash on its own: an entry that is no hash is refused, never skipped (which
    // would move the metadata of every later entry onto the wrong hash).
    const entries = resolved.hashes.map((given, i) => {
      const text = typeof given === 'string' ? given : given?.hash;
      const parsed = typeof text === 'string' ? parsePdqList(text, 'lines') : [];
      const [entry] = parsed;
      if (!entry || parsed.length !== 1) {
        throw new Error(
          `PDQ list '${resolved.name}': entry ${i + 1} is not a 64-digit hex PDQ hash`,
        );
      }
      return typeof given === 'string' ? entry : { ...entry, metadata: given.metadata };
    });
    return { name: resolved.name, entries };
  }
  const text = await readFile(resolved.path, 'utf8');
  try {
    return { name: resolved.name, entries: parsePdqList(text, resolved.format) };
  } catch (error) {
    throw new Error(
      `PDQ list '${resolved.name}' (${resolved.path}): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
