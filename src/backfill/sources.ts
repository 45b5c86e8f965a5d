/**
 * The files a backfill scans, streamed (never a list in memory): every regular file under each
 * directory (recursively, symlinks not followed), each file given by name, and each line of a
 * manifest (`{"path": "..."}` JSON lines, or plain paths; relative paths resolve against the
 * manifest's directory).
 */
import { createReadStream } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export async function* filesOf(
  paths: readonly string[],
  manifest: string | undefined,
): AsyncGenerator<string> {
  for (const path of paths) {
    const info = await stat(path);
    if (info.isDirectory()) yield* walk(resolve(path));
    else yield resolve(path);
  }
  if (manifest !== undefined) yield* manifestPaths(manifest);
}

async function* walk(dir: string): AsyncGenerator<string> {
  const handle = await opendir(dir);
  const subdirs: string[] = [];
  for await (const entry of handle) {
    const path = join(dir, entry.name);
    if (entry.isFile()) yield path;
    else if (entry.isDirectory()) subdirs.push(entry.name);
  }
  // Directories after files keeps one directory's names in memory at a time (as names only).
  for (const name of subdirs.sort()) yield* walk(join(dir, name));
}

async function* manifestPaths(manifest: string): AsyncGenerator<string> {
  const base = dirname(resolve(manifest));
  const lines = createInterface({ input: createReadStream(manifest), crlfDelay: Infinity });
  for await (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    let path = line;
    if (line.startsWith('{')) {
      const parsed = JSON.parse(line) as { path?: unknown };
      if (typeof parsed.path !== 'string' || !parsed.path)
        throw new Error(`manifest line without a "path": ${line.slice(0, 200)}`);
      path = parsed.path;
    }
    yield resolve(base, path);
  }
}

/** Counts what `filesOf` would yield (for the progress bar's ETA), streaming too. */
export async function countFiles(
  paths: readonly string[],
  manifest: string | undefined,
): Promise<number> {
  let count = 0;
  for await (const _ of filesOf(paths, manifest)) count++;
  return count;
}
