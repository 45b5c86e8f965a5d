/**
 * `photodna-guard worker --redis URL [--concurrency N] [options]`: runs deferred scan jobs from
 * the BullMQ queue on Redis, sharing the key's rate budget with every guard and worker on that
 * Redis. Events go to stdout as JSON lines (never image bytes); SIGINT/SIGTERM stop it cleanly
 * (a job in flight goes back to the queue).
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { createScanWorker } from '../queue/worker.js';
import { redactUrl } from '../redact.js';

const USAGE = `Usage: photodna-guard worker --redis URL [options]

Runs deferred scan jobs (queue: { redis }) at the configured rate; any number of workers on any
number of machines share one rate budget with the guards through the same Redis.

  --redis URL          the queue's and the rate limit's Redis (required)
  --queue NAME         the BullMQ queue name (defaults to photodna-guard-scan)
  --concurrency N      jobs at once (defaults to 5)
  --quarantine DIR     store matches in this quarantine directory
  --policy P           quarantine | flag for jobs that name none
                       (defaults to quarantine with --quarantine, else flag)
  --api-key KEY        PhotoDNA subscription key (or env PHOTODNA_API_KEY)
  --base-url URL       PhotoDNA base URL (or env PHOTODNA_BASE_URL)
  --rate N             calls per second for the key (defaults to 5 for v2)
  -h, --help           this help`;

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
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
    }));
  } catch (error) {
    process.stderr.write(`photodna-guard worker: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const str = (name: string) =>
    typeof values[name] === 'string' ? (values[name] as string) : undefined;
  const redis = str('redis');
  const policy = str('policy');
  if (!redis || (policy !== undefined && policy !== 'quarantine' && policy !== 'flag')) {
    process.stderr.write(
      `photodna-guard worker: --redis URL is required; --policy is quarantine or flag\n\n${USAGE}\n`,
    );
    return 2;
  }
  const name = str('queue');
  const quarantine = str('quarantine');
  const apiKey = str('api-key');
  const baseUrl = str('base-url');
  const rate = str('rate');
  const worker = await createScanWorker({
    queue: { redis, ...(name === undefined ? {} : { name }) },
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(baseUrl === undefined ? {} : { baseUrl }),
    ...(rate === undefined ? {} : { rateLimit: { perSecond: Number(rate) } }),
    ...(quarantine === undefined ? {} : { quarantine: { dir: quarantine } }),
    ...(policy === undefined ? {} : { policy: policy as 'quarantine' | 'flag' }),
    concurrency: Number(str('concurrency') ?? 5),
  });
  const line = (event: Record<string, unknown>) =>
    process.stdout.write(`${JSON.stringify(event)}\n`);
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
  worker.on('reject', (e) => line({ event: 'reject', code: e.code, detail: e.detail }));
  worker.on('error', (e) =>
    line({ event: 'error', stage: e.stage, reason: e.reason, message: e.error.message }),
  );
  line({ event: 'ready', queue: name ?? 'photodna-guard-scan' });
  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  await worker.close();
  return 0;
}
