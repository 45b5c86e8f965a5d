import type { Benchmark } from './lib/benchmark.js';
import { jpeg50k } from './lib/images.js';
import { allAnswered, describeStatuses, type LoadResult, loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { type ServerProcess, startServer } from './lib/server-process.js';
import { median, percentile } from './lib/stats.js';
import { fmt, note } from './lib/table.js';

/**
 * Guarded route (`guard.any()`, matcher answering at once, no cache) against a bare
 * `multer().any()` route in the same server process, under the same closed-loop load. Short
 * rounds alternate between the two routes and the row shows the pair with the median ratio,
 * so drift and other processes on the machine affect both sides of each pair alike. The server's
 * own CPU time per request is reported too: it is what the guard adds, whatever else runs.
 */
const CONCURRENCY = 16;
const WARMUP_REQUESTS = 1_000;
const PAIRS = 7;
const REQUESTS_PER_ROUND = 2_500;
const ROUND_MAX_MS = 4_000;
const THROUGHPUT_GOAL = 0.9;

type Path = '/bare' | '/guarded';

interface Round {
  load: LoadResult;
  /** Server CPU time per request, in microseconds. */
  cpuPerRequest: number;
}

export const throughput: Benchmark = {
  name: 'throughput',
  about: `guarded vs bare multer route: ${CONCURRENCY} keep-alive clients, ~50 KB JPEG, ${PAIRS} alternating pairs of ${REQUESTS_PER_ROUND}-request rounds`,
  async run() {
    const image = jpeg50k();
    const uploads = [fileUpload(image, 'photo.jpg')];
    const server = await startServer({ kind: 'instant' });
    const pool = loadClient(server.origin, CONCURRENCY);
    try {
      const round = (path: Path, requests: number) =>
        measureRound(server, () =>
          runLoad(pool, { path, uploads, concurrency: CONCURRENCY, requests, maxMs: ROUND_MAX_MS }),
        );
      for (const path of ['/bare', '/guarded'] as const) await round(path, WARMUP_REQUESTS);

      const rounds: Record<Path, Round[]> = { '/bare': [], '/guarded': [] };
      const ratios: number[] = [];
      for (let pair = 0; pair < PAIRS; pair++) {
        // Alternate which route goes first, so neither always follows the other's garbage.
        const order: Path[] = pair % 2 === 0 ? ['/bare', '/guarded'] : ['/guarded', '/bare'];
        for (const path of order) rounds[path].push(await round(path, REQUESTS_PER_ROUND));
        const bare = rounds['/bare'][pair] as Round;
        const guarded = rounds['/guarded'][pair] as Round;
        ratios.push(guarded.load.perSecond / bare.load.perSecond);
        note(
          `pair ${pair + 1}: bare ${fmt(bare.load.perSecond, 'req/s')} (${fmt(bare.cpuPerRequest, 'µs')} CPU/req), ` +
            `guarded ${fmt(guarded.load.perSecond, 'req/s')} (${fmt(guarded.cpuPerRequest, 'µs')} CPU/req), ` +
            `ratio ${(ratios[pair] ?? 0).toFixed(2)}`,
        );
      }
      // The pair with the median ratio gives the row's figures, so measured / baseline = ratio.
      const middle = [...ratios.keys()].sort((a, b) => (ratios[a] ?? 0) - (ratios[b] ?? 0))[
        Math.floor(PAIRS / 2)
      ] as number;
      const summary = (path: Path) => ({
        perSecond: (rounds[path][middle] as Round).load.perSecond,
        cpu: median(rounds[path].map((r) => r.cpuPerRequest)),
        p99: percentile(
          rounds[path].flatMap((r) => r.load.latenciesMs),
          99,
        ),
        ok: rounds[path].every((r) => allAnswered(r.load)),
        clientCpu: median(rounds[path].map((r) => r.load.clientCpu)),
      });
      const bare = summary('/bare');
      const guarded = summary('/guarded');
      const ratio = guarded.perSecond / bare.perSecond;
      note(
        `upload ${fmt(image.length / 1024, 'KiB')} JPEG; median pair ${middle + 1}; server CPU per request (medians): ` +
          `bare ${fmt(bare.cpu, 'µs')}, guarded ${fmt(guarded.cpu, 'µs')} (+${fmt(guarded.cpu - bare.cpu, 'µs')}); ` +
          `load generator CPU ${fmt(bare.clientCpu * 100, '%')} / ${fmt(guarded.clientCpu * 100, '%')}; ` +
          `all 200: ${bare.ok && guarded.ok} (last round ${describeStatuses((rounds['/guarded'].at(-1) as Round).load)})`,
      );
      return [
        {
          benchmark: `throughput, guarded vs bare multer (c=${CONCURRENCY})`,
          measured: fmt(guarded.perSecond, 'req/s'),
          baseline: fmt(bare.perSecond, 'req/s'),
          ratio,
          goal: `≥ ${THROUGHPUT_GOAL.toFixed(2)}`,
          met: ratio >= THROUGHPUT_GOAL && bare.ok && guarded.ok,
        },
        {
          benchmark: `p99 latency, guarded vs bare multer (c=${CONCURRENCY})`,
          measured: fmt(guarded.p99, 'ms'),
          baseline: fmt(bare.p99, 'ms'),
          ratio: guarded.p99 / bare.p99,
          goal: '— (info)',
        },
        {
          benchmark: 'server CPU per request, guarded vs bare',
          measured: fmt(guarded.cpu, 'µs'),
          baseline: fmt(bare.cpu, 'µs'),
          ratio: guarded.cpu / bare.cpu,
          goal: '— (info)',
        },
      ];
    } finally {
      await pool.close();
      await server.close();
    }
  },
};

async function measureRound(
  server: ServerProcess,
  load: () => Promise<LoadResult>,
): Promise<Round> {
  const before = await server.cpuMicros();
  const result = await load();
  const after = await server.cpuMicros();
  return { load: result, cpuPerRequest: (after - before) / Math.max(1, result.completed) };
}
