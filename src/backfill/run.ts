/**
 * `runBackfill(options)`: scans existing files at the configured rate, one `results.jsonl` line
 * per file, in flat memory (the file list is streamed; at most `concurrency` files are in hand).
 */
import { PhotoDnaClient } from '../client/index.js';
import type { PhotoDnaClientOptions } from '../client/options.js';
import { type Limits, limitsSchema } from '../options.js';
import { createFileQuarantineStore } from '../quarantine/fs-store.js';
import { type Journal, type JournalWriter, newJournal, pathKey, withJournal } from './journal.js';
import { type Counts, countSkipped } from './progress.js';
import { type BackfillDeps, scanBackfillFile } from './scan-file.js';
import { filesOf } from './sources.js';

export interface BackfillOptions {
  /** Files and directories (recursed). */
  paths: string[];
  /** A JSONL (or one-path-per-line) list of files. Defaults to none. */
  manifest?: string;
  /** The results journal; required unless `dryRun`. */
  out?: string;
  /** Continue an earlier run from `out`. Defaults to `false` (an existing `out` is refused). */
  resume?: boolean;
  /** Count and validate, no calls, no output file. Defaults to `false`. */
  dryRun?: boolean;
  /** Quarantine store directory for matches. Defaults to none (matches are only listed). */
  quarantineDir?: string;
  /** The PhotoDNA client's options (key, base URL, rate limit...). */
  client: PhotoDnaClientOptions;
  /** Files in hand at once. Defaults to twice the rate, at least 4. */
  concurrency?: number;
  limits?: Partial<Limits>;
  /** Live counters (the progress display reads them). */
  counts: Counts;
  /** Stops feeding new files (SIGINT); files in hand finish. */
  signal?: AbortSignal;
}

export async function runBackfill(options: BackfillOptions): Promise<Counts> {
  if (options.dryRun) return scanAll(options, newJournal(), undefined, undefined);
  const { out } = options;
  if (!out) throw new TypeError('--out is required (unless --dry-run)');
  // Made first: options it refuses leave the journal untouched.
  const client = new PhotoDnaClient({
    ...options.client,
    rateLimit: { maxQueue: 100_000, ...options.client.rateLimit },
  });
  try {
    return await withJournal(out, options.resume === true, (journal, writer) =>
      scanAll(options, journal, writer, client),
    );
  } finally {
    await client.close();
  }
}

async function scanAll(
  options: BackfillOptions,
  journal: Journal,
  writer: JournalWriter | undefined,
  client: PhotoDnaClient | undefined,
): Promise<Counts> {
  const { counts } = options;
  const dryRun = writer === undefined;
  const perSecond = options.client.rateLimit?.perSecond ?? 5;
  const deps: BackfillDeps = {
    client,
    store: options.quarantineDir
      ? createFileQuarantineStore({ dir: options.quarantineDir })
      : undefined,
    limits: limitsSchema.parse(options.limits ?? {}),
    known: journal.known,
    pending: new Map(),
    dryRun,
  };
  const concurrency = options.concurrency ?? Math.max(4, perSecond * 2);
  const inHand = new Set<Promise<void>>();
  try {
    for await (const entry of filesOf(options.paths, options.manifest)) {
      // A journal that can no longer be written: no call whose result would be lost.
      if (options.signal?.aborted || writer?.failure) break;
      if ('skipped' in entry) {
        countSkipped(counts, entry.skipped);
        continue;
      }
      if (journal.finished.has(pathKey(entry.path))) {
        countSkipped(counts, 'finished');
        continue;
      }
      const work: Promise<void> = scanBackfillFile(deps, entry).then(
        ({ line, called, duplicate }) => {
          counts.done++;
          counts[line.outcome]++;
          if (called) counts.calls++;
          if (duplicate) counts.duplicate++;
          writer?.append(line);
        },
      );
      const tracked = work.finally(() => inHand.delete(tracked));
      inHand.add(tracked);
      if (inHand.size >= concurrency) await Promise.race(inHand);
    }
    await Promise.all(inHand);
  } finally {
    await Promise.allSettled(inHand);
  }
  return counts;
}
