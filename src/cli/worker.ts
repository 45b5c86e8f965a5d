/**
 * `photodna-guard worker --redis URL [--concurrency N] [options]`: runs deferred scan jobs from
 * the BullMQ queue on Redis, sharing the key's rate budget with every guard and worker on that
 * Redis. Events go to stdout as JSON lines (never image bytes); SIGINT/SIGTERM stop it cleanly
 * (a job in flight goes back to the queue); a second signal, or a close that cannot finish in 10 s
 * (Redis unreachable), stops it anyway with exit code 1.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { MAX_CALLS_PER_SECOND } from '../client/options.js';
import { printableJson } from '../printable.js';
import { connectionReason, credentialsOf, QueueRedisError } from '../queue/connection-errors.js';
import { createScanWorker, type ScanWorker } from '../queue/worker.js';
import { redact, redactUrl } from '../redact.js';
import {
  linesOf,
  messageOf,
  parsedOrUsage,
  positiveInteger,
  type RunIo,
  stopped,
} from './run-io.js';
import { apiKeyOf, REDIS_URL_ENV, redisUrlOf } from './secrets.js';

const USAGE = `Usage: photodna-guard worker --redis URL [options]

Runs deferred scan jobs (queue: { redis }) at the configured rate; any number of workers on any
number of machines share one rate budget with the guards through the same Redis.

  --redis URL          the queue's and the rate limit's Redis (required, or env
                       PHOTODNA_REDIS_URL: use it for a URL with a password, since a command
                       line is visible to other users in ps and kept in shell history)
  --queue NAME         the BullMQ queue name (defaults to photodna-guard-scan)
  --concurrency N      jobs at once (defaults to 5)
  --quarantine DIR     store matches in this quarantine directory
  --policy P           quarantine | flag for jobs that name none
                       (defaults to quarantine with --quarantine, else flag)
  --api-key KEY        PhotoDNA subscription key; prefer env PHOTODNA_API_KEY
  --base-url URL       PhotoDNA base URL (or env PHOTODNA_BASE_URL)
  --rate N             calls per second for the key (defaults to 5 for v2)
  -h, --help           this help`;

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const { out, err } = linesOf(io);
  const args = parsedOrUsage(() => argsOf(parse(argv).values, err), 'worker', USAGE, err);
  if (!args) return 2;
  if (args === 'help') {
    out(USAGE);
    return 0;
  }
  const { redis, name, policy, concurrency, rate, quarantine, apiKey, baseUrl } = args;
  const worker = await createScanWorker({
    queue: { redis, ...(name === undefined ? {} : { name }) },
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(baseUrl === undefined ? {} : { baseUrl }),
    ...(rate === undefined ? {} : { rateLimit: { perSecond: rate } }),
    ...(quarantine === undefined ? {} : { quarantine: { dir: quarantine } }),
    ...(policy === undefined ? {} : { policy }),
    concurrency,
  });
  const line = (event: Record<string, unknown>) => out(printableJson(event));
  worker.on('scan', (e) =>
    line({
      event: 'scan',
      scanId: e.scanId,
      outcome: e.outcome,
      sha256: e.file.sha256,
      ms: Math.round(e.durationMs),
      ...(e.url === undefined ? {} : { url: redactUrl(e.url) }),
    }),
  );
  worker.on('match', (e) =>
    line({
      event: 'match',
      scanId: e.scanId,
      incident: e.id,
      quarantineId: e.quarantineId,
      policy: e.policy,
      ...(e.url === undefined ? {} : { url: redactUrl(e.url) }),
    }),
  );
  worker.on('reject', (e) =>
    line({
      event: 'reject',
      scanId: e.scanId,
      code: e.code,
      detail: e.detail,
      ...(e.url === undefined ? {} : { url: redactUrl(e.url) }),
    }),
  );
  worker.on('error', (e) =>
    line({ event: 'error', stage: e.stage, reason: e.reason, message: e.error.message }),
  );
  const stop = stopped(io.signal);
  // 'ready' once the queue's Redis has answered, so jobs can run: not while it is unreachable,
  // when its failures are `error` lines (stage 'queue') and a signal still stops the worker.
  if (await answers(worker, redis, stop))
    line({ event: 'ready', queue: name ?? 'photodna-guard-scan' });
  await stop;
  line({ event: 'stopping' });
  if (await closesWithin(worker, CLOSE_GRACE_MS)) return 0;
  err(
    `photodna-guard worker: not closed cleanly within ${CLOSE_GRACE_MS / 1000} s or signalled again (is Redis reachable?); stopping anyway: jobs in flight run again once their locks expire`,
  );
  return 1;
}

/**
 * Whether the worker's queue answered a request (its depth) before `stop`. A refusal (Redis still
 * loading its data, a missing permission) is reported as the worker's `error` event (stage
 * 'queue', at most every 30 s) and asked again every few seconds: the worker is ready when the
 * queue answers, not before. (An unreachable Redis does not refuse: the request waits for it.)
 */
async function answers(worker: ScanWorker, redis: string, stop: Promise<void>): Promise<boolean> {
  const stopped = stop.then(() => 'stopped' as const);
  let reportedAt = Number.NEGATIVE_INFINITY;
  for (;;) {
    const answer = await Promise.race([
      worker.queue.depth().then(
        () => 'answered' as const,
        (error: unknown) => error,
      ),
      stopped,
    ]);
    if (answer === 'answered') return true;
    if (answer === 'stopped') return false;
    if (Date.now() - reportedAt >= REPORT_EVERY_MS) {
      reportedAt = Date.now();
      const message =
        answer instanceof QueueRedisError
          ? answer.detail
          : redact(messageOf(answer), credentialsOf(redis));
      worker.events.emit('error', {
        error: new Error(`the queue's Redis refused: ${message}`),
        stage: 'queue',
        // Redis's own error codes: its ACL or password said no, or it is not serving yet.
        reason: connectionReason(answer),
      });
    }
    const pause = new AbortController();
    const again = await Promise.race([
      delay(ASK_AGAIN_MS, 'again' as const, { signal: pause.signal }),
      stopped,
    ]);
    pause.abort();
    if (again === 'stopped') return false;
  }
}

/** How often a refusing queue is asked again, and how often its refusal is reported. */
const ASK_AGAIN_MS = 2_000;
const REPORT_EVERY_MS = 30_000;

/** How long a stop may take before the worker gives up closing cleanly (Redis unreachable). */
const CLOSE_GRACE_MS = 10_000;

/** Whether the worker closed before the grace ran out and before a second SIGINT/SIGTERM. */
async function closesWithin(worker: { close(): Promise<void> }, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  let giveUp: () => void = () => {};
  const gaveUp = new Promise<false>((resolve) => {
    giveUp = () => resolve(false);
    timer = setTimeout(giveUp, ms);
    process.once('SIGINT', giveUp);
    process.once('SIGTERM', giveUp);
  });
  try {
    return await Promise.race([worker.close().then(() => true as const), gaveUp]);
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', giveUp);
    process.off('SIGTERM', giveUp);
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      redis: { type: 'string' },
      queue: { type: 'string' },
      concurrency: { type: 'string' },
      quarantine: { type: 'string' },
      policy: { type: 'string' },
      'api-key': { type: 'string' },
      'base-url': { type: 'string' },
      rate: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/**
 * The command line checked, or 'help'; throws what is wrong with it (a usage error). A secret
 * given as a flag is warned about on `err`.
 */
function argsOf(values: ReturnType<typeof parse>['values'], err: (line: string) => void) {
  if (values.help) return 'help' as const;
  const { policy } = values;
  const redis = redisUrlOf(values.redis, err);
  if (!redis) throw new Error(`--redis URL (or env ${REDIS_URL_ENV}) is required`);
  if (policy !== undefined && policy !== 'quarantine' && policy !== 'flag') {
    throw new Error(`--policy is quarantine or flag, got ${policy}`);
  }
  return {
    redis,
    name: values.queue,
    policy: policy as 'quarantine' | 'flag' | undefined,
    concurrency: positiveInteger('--concurrency', values.concurrency ?? '5'),
    rate:
      values.rate === undefined
        ? undefined
        : positiveInteger('--rate', values.rate, MAX_CALLS_PER_SECOND),
    quarantine: values.quarantine,
    apiKey: apiKeyOf(values['api-key'], err),
    baseUrl: values['base-url'],
  };
}
