/**
 * `photodna-guard scan <dir|file>... [--manifest list.jsonl] --out results.jsonl [options]`:
 * backfill of existing media at the configured rate (see `src/backfill/`). Exit codes: 0 every
 * file finished (clean, match or invalid), 1 some files ended in `error` (run again with
 * `--resume`) or a failure, 2 usage, 130 (SIGINT) or 143 (SIGTERM) stopped early.
 */
import { parseArgs } from 'node:util';
import { newCounts, startProgress } from '../backfill/progress.js';
import { runBackfill } from '../backfill/run.js';
import { countFiles } from '../backfill/sources.js';
import { MAX_CALLS_PER_SECOND } from '../client/options.js';
import { holdSignals, linesOf, parsedOrUsage, positiveInteger, type RunIo } from './run-io.js';
import { apiKeyOf, redisUrlOf } from './secrets.js';

const USAGE = `Usage: photodna-guard scan <dir|file>... [--manifest list.jsonl] --out results.jsonl [options]

Scans existing images at the configured rate: one JSON line per file in --out
(path, sha256, outcome: clean | match | invalid | error, and the details).
A repeated image (same SHA-256) costs no call, across --resume too. Symlinks, FIFOs,
sockets and devices in a walked directory are not read: the summary counts them in skippedBy.

  --out FILE           the results journal (required unless --dry-run)
  --manifest FILE      a list of files: {"path": "..."} JSON lines or plain paths; {"url": "..."}
                       lines are downloaded (http(s), at most 4 MiB, 30 s, 3 redirects)
  --quarantine DIR     store matches in this quarantine directory (0700, evidence kept 365 days)
  --resume             continue --out after a crash or kill: finished files are not called again
  --dry-run            count and validate only: no PhotoDNA call, no output file
  --api-key KEY        PhotoDNA subscription key; prefer env PHOTODNA_API_KEY (a command
                       line is visible to other users in ps and kept in shell history)
  --base-url URL       PhotoDNA base URL (or env PHOTODNA_BASE_URL), e.g. the emulator's
  --api-version v1|v2  defaults to v2
  --rate N             calls per second (defaults to 5 for v2, 10 for v1)
  --redis URL          share the rate budget with guards and workers through this Redis
                       (or env PHOTODNA_REDIS_URL: use it for a URL with a password)
  --concurrency N      files in hand at once (defaults to twice the rate, at least 4)
  -h, --help           this help`;

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const { out, err } = linesOf(io);
  const parsed = parsedOrUsage(() => checked(parse(argv)), 'scan', USAGE, err);
  if (!parsed) return 2;
  const { values, positionals } = parsed;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const apiKey = apiKeyOf(values['api-key'], err);
  const redis = redisUrlOf(values.redis, err);
  const baseUrl = values['base-url'];
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  const counts = newCounts();
  // SIGINT, SIGTERM (a service manager's stop) or the caller's signal stops it between files:
  // the files in hand finish and their lines are written, so the journal stays resumable. A
  // second signal kills it.
  const abort = new AbortController();
  const stop = () => abort.abort();
  const signals = holdSignals(stop);
  if (io.signal?.aborted) stop();
  else io.signal?.addEventListener('abort', stop, { once: true });
  const progress = startProgress(counts);
  // The total (for the ETA) is counted alongside, streaming too.
  void countFiles(positionals, values.manifest).then(
    (total) => {
      counts.total = total;
    },
    () => undefined,
  );
  try {
    await runBackfill({
      paths: positionals,
      ...(values.manifest === undefined ? {} : { manifest: values.manifest }),
      ...(values.out === undefined ? {} : { out: values.out }),
      resume: values.resume === true,
      dryRun: values['dry-run'] === true,
      ...(values.quarantine === undefined ? {} : { quarantineDir: values.quarantine }),
      ...(concurrency === undefined ? {} : { concurrency }),
      client: {
        ...(apiKey === undefined ? {} : { apiKey }),
        ...(baseUrl === undefined ? {} : { baseUrl }),
        ...(values['api-version'] === undefined
          ? {}
          : { apiVersion: values['api-version'] as 'v1' | 'v2' }),
        rateLimit: {
          ...(rate === undefined ? {} : { perSecond: rate }),
          ...(redis === undefined ? {} : { redis }),
        },
      },
      counts,
      signal: abort.signal,
    });
  } finally {
    progress.stop();
    signals.release();
    io.signal?.removeEventListener('abort', stop);
  }
  const { total: _total, ...summary } = counts;
  out(JSON.stringify({ ...summary, interrupted: abort.signal.aborted }));
  if (abort.signal.aborted) return signals.exitCode ?? 130;
  return counts.error > 0 ? 1 : 0;
}

/** The parsed command line; throws what is missing (a usage error), unless help is asked. */
function checked(parsed: ReturnType<typeof parse>): ReturnType<typeof parse> {
  const { values, positionals } = parsed;
  if (values.help) return parsed;
  if (positionals.length === 0 && !values.manifest) {
    throw new Error('give files, directories or --manifest');
  }
  if (!values.out && !values['dry-run']) throw new Error('--out is required (unless --dry-run)');
  if (values.rate !== undefined) positiveInteger('--rate', values.rate, MAX_CALLS_PER_SECOND);
  if (values.concurrency !== undefined) positiveInteger('--concurrency', values.concurrency);
  const version = values['api-version'];
  if (version !== undefined && version !== 'v1' && version !== 'v2') {
    throw new Error(`--api-version is v1 or v2, got ${version}`);
  }
  return parsed;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      manifest: { type: 'string' },
      quarantine: { type: 'string' },
      resume: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'api-key': { type: 'string' },
      'base-url': { type: 'string' },
      'api-version': { type: 'string' },
      rate: { type: 'string' },
      redis: { type: 'string' },
      concurrency: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
