import type { Benchmark } from './lib/benchmark.js';
import { jpegOfSize } from './lib/images.js';
import { warmJit } from './lib/jit-warmup.js';
import { allAnswered, describeStatuses, type LoadResult, loadClient, runLoad } from './lib/load.js';
import { fileUpload, type Upload } from './lib/multipart.js';
import { orderAt } from './lib/orders.js';
import { type ServerProcess, startServer } from './lib/server-process.js';
import { selectSizes, UPLOAD_SIZES, type UploadSize } from './lib/sizes.js';
import { median, medianInterval, percentile } from './lib/stats.js';
import { fmt, note, type Row, verdict } from './lib/table.js';

/**
 * Four routes in one server process, same handler, same closed-loop load: `bare`
 * (`multer().any()`), `minimum` (multer plus the least any guard must do: sniff, header
 * dimensions, one SHA-256, one await of the matcher; issue 16's baseline, the goals), `required`
 * (minimum plus what the guard's other promises make mandatory: the deadline and the uploader
 * leaving raced against the answer, the JPEG's end found for `trailingData`, the request marked
 * and its decision kept; hand-written in one function) and `guarded` (`guard.any()`, the same
 * instant matcher, no cache). guarded / required is what the library's structure costs; required /
 * minimum what those safety properties cost. Short rounds alternate between the routes (in the
 * balanced orders of `lib/orders.ts`), so drift and the other processes on the machine hit all
 * alike; ratios are medians of per-round-set ratios, with a 95% confidence interval of that
 * median (order statistics, no assumption on the spread): a goal is met or missed only when the
 * whole interval says so, else the run cannot tell (`noise`). The server's CPU time and its full (mark-compact) GCs are read around every
 * round; CPU excesses are medians of per-set differences, with their interval.
 */
const CONCURRENCY = 16;
/** `BENCH_SETS=12` for a tighter median (the CPU rows move ±25 µs between runs of 5 sets here). */
const SETS = Number(process.env.BENCH_SETS ?? 5);
const ROUND_MAX_MS = 3_000;
const GOAL_VS_MINIMUM = 0.95;
const P99_GOAL = 1.1;
/** CPU the guard may spend above the minimum at 50 KiB, µs per request. */
const CPU_ABOVE_MINIMUM_GOAL = 25;

const ROUTES = ['/bare', '/minimum', '/required', '/guarded'] as const;
type Path = (typeof ROUTES)[number];

/** `BENCH_SIZES="50 KiB,500 KiB"` measures only those sizes; all three by default. */
const sizes = () => selectSizes(process.env.BENCH_SIZES);

interface Round {
  load: LoadResult;
  /** Server CPU time per request, in microseconds. */
  cpuPerRequest: number;
  /** The main thread's share of it (Linux), in microseconds; the rest is V8's helper threads. */
  mainCpuPerRequest: number | undefined;
  /** Full (mark-compact) GCs during the round. */
  majorGcs: number;
}

export const throughput: Benchmark = {
  name: 'throughput',
  about: `bare vs minimum vs required vs guarded route: ${CONCURRENCY} keep-alive clients, JPEGs of ${process.env.BENCH_SIZES || UPLOAD_SIZES.map((s) => s.label).join(', ')}, ${SETS} sets of rounds in balanced orders`,
  async run() {
    const server = await startServer({ kind: 'instant' });
    const pool = loadClient(server.origin, CONCURRENCY);
    const rows: Row[] = [];
    try {
      await warmJit(server.origin, ROUTES);
      for (const size of sizes()) rows.push(...(await measureSize(server, pool, size)));
    } finally {
      await pool.close();
      await server.close();
    }
    return rows;
  },
};

async function measureSize(
  server: ServerProcess,
  pool: ReturnType<typeof loadClient>,
  size: UploadSize,
): Promise<Row[]> {
  const image = jpegOfSize(size.width, size.height);
  const uploads: Upload[] = [fileUpload(image, 'photo.jpg')];
  const round = (path: Path, requests: number) =>
    measureRound(server, () =>
      runLoad(pool, { path, uploads, concurrency: CONCURRENCY, requests, maxMs: ROUND_MAX_MS }),
    );
  for (const path of ROUTES) await round(path, size.warmup);

  const rounds: Record<Path, Round[]> = {
    '/bare': [],
    '/minimum': [],
    '/required': [],
    '/guarded': [],
  };
  const vsMinimum: number[] = [];
  const vsRequired: number[] = [];
  const vsBare: number[] = [];
  const cpuAboveMinimum: number[] = [];
  const cpuAboveRequired: number[] = [];
  const mainAboveMinimum: number[] = [];
  const mainAboveRequired: number[] = [];
  for (let set = 0; set < SETS; set++) {
    // Balanced orders: each route in each position once per four sets, and after each other
    // route alike over twelve, so no route always pays for another's garbage.
    for (const path of orderAt(ROUTES, set)) rounds[path].push(await round(path, size.requests));
    const [bare, min, req, guarded] = ROUTES.map((p) => rounds[p][set] as Round) as [
      Round,
      Round,
      Round,
      Round,
    ];
    vsMinimum.push(guarded.load.perSecond / min.load.perSecond);
    vsRequired.push(guarded.load.perSecond / req.load.perSecond);
    vsBare.push(guarded.load.perSecond / bare.load.perSecond);
    cpuAboveMinimum.push(guarded.cpuPerRequest - min.cpuPerRequest);
    cpuAboveRequired.push(guarded.cpuPerRequest - req.cpuPerRequest);
    if (guarded.mainCpuPerRequest !== undefined) {
      mainAboveMinimum.push(guarded.mainCpuPerRequest - (min.mainCpuPerRequest as number));
      mainAboveRequired.push(guarded.mainCpuPerRequest - (req.mainCpuPerRequest as number));
    }
    note(
      `${size.label} set ${set + 1}: ` +
        ROUTES.map((p) => {
          const r = rounds[p][set] as Round;
          return `${p.slice(1)} ${fmt(r.load.perSecond, 'req/s')} (${fmt(r.cpuPerRequest, 'µs')} CPU/req)`;
        }).join(', ') +
        `; guarded/minimum ${(vsMinimum[set] ?? 0).toFixed(2)}`,
    );
  }
  const summary = (path: Path) => {
    const list = rounds[path];
    const completed = list.reduce((sum, r) => sum + r.load.completed, 0);
    return {
      perSecond: median(list.map((r) => r.load.perSecond)),
      cpu: median(list.map((r) => r.cpuPerRequest)),
      mainCpu: list.every((r) => r.mainCpuPerRequest !== undefined)
        ? median(list.map((r) => r.mainCpuPerRequest as number))
        : undefined,
      p99: percentile(
        list.flatMap((r) => r.load.latenciesMs),
        99,
      ),
      majorPerThousand: (list.reduce((sum, r) => sum + r.majorGcs, 0) / completed) * 1000,
      ok: list.every((r) => allAnswered(r.load)),
    };
  };
  const bare = summary('/bare');
  const min = summary('/minimum');
  const req = summary('/required');
  const guarded = summary('/guarded');
  const ok = bare.ok && min.ok && req.ok && guarded.ok;
  const ratioMin = median(vsMinimum);
  const ratioRequired = median(vsRequired);
  const ratioBare = median(vsBare);
  const intervalMin = medianInterval(vsMinimum);
  const cpuAbove = median(cpuAboveMinimum);
  const cpuAboveInterval = medianInterval(cpuAboveMinimum);
  const cpuAboveReq = median(cpuAboveRequired);
  note(
    `${size.label} (${fmt(image.length / 1024, 'KiB')}) server CPU µs/req bare / minimum / required / guarded: ` +
      `${num(bare.cpu)} / ${num(min.cpu)} / ${num(req.cpu)} / ${num(guarded.cpu)}; ` +
      `mark-compacts per 1,000: ${num(bare.majorPerThousand)} / ${num(min.majorPerThousand)} / ${num(req.majorPerThousand)} / ${num(guarded.majorPerThousand)}; ` +
      `minimum/bare ${median(rounds['/minimum'].map((r, i) => r.load.perSecond / (rounds['/bare'][i] as Round).load.perSecond)).toFixed(2)}; ` +
      `all 200: ${ok} (last round ${describeStatuses((rounds['/guarded'].at(-1) as Round).load)})`,
  );
  if (guarded.mainCpu !== undefined) {
    const split = (r: ReturnType<typeof summary>) =>
      `${num(r.mainCpu as number)} + ${num(r.cpu - (r.mainCpu as number))}`;
    note(
      `${size.label} server CPU µs/req, main thread + helper threads (GC, compiler), bare / minimum / required / guarded: ` +
        `${split(bare)} / ${split(min)} / ${split(req)} / ${split(guarded)}`,
    );
  }
  const at = `${size.label} (c=${CONCURRENCY})`;
  const cpuGoal = size.label === '50 KiB';
  const mainRows: Row[] =
    guarded.mainCpu === undefined
      ? []
      : [
          {
            benchmark: `main-thread CPU per request, guarded vs minimum, ${size.label}`,
            measured: `${fmt(guarded.mainCpu, 'µs')} (${excess(median(mainAboveMinimum), medianInterval(mainAboveMinimum))})`,
            baseline: fmt(min.mainCpu as number, 'µs'),
            ratio: guarded.mainCpu / (min.mainCpu as number),
            goal: '— (info)',
          },
          {
            benchmark: `main-thread CPU per request, guarded vs required, ${size.label}`,
            measured: `${fmt(guarded.mainCpu, 'µs')} (${excess(median(mainAboveRequired), medianInterval(mainAboveRequired))})`,
            baseline: fmt(req.mainCpu as number, 'µs'),
            ratio: guarded.mainCpu / (req.mainCpu as number),
            goal: '— (info)',
          },
        ];
  return [
    {
      benchmark: `throughput, guarded vs minimum, ${at}`,
      measured: fmt(guarded.perSecond, 'req/s'),
      baseline: fmt(min.perSecond, 'req/s'),
      ratio: ratioMin,
      interval: intervalMin,
      goal: `≥ ${GOAL_VS_MINIMUM.toFixed(2)}`,
      met: ok ? verdict(intervalMin, GOAL_VS_MINIMUM, 'at least') : false,
    },
    {
      benchmark: `throughput, guarded vs required, ${at}`,
      measured: fmt(guarded.perSecond, 'req/s'),
      baseline: fmt(req.perSecond, 'req/s'),
      ratio: ratioRequired,
      interval: medianInterval(vsRequired),
      goal: '— (info)',
    },
    {
      benchmark: `throughput, guarded vs bare multer, ${at}`,
      measured: fmt(guarded.perSecond, 'req/s'),
      baseline: fmt(bare.perSecond, 'req/s'),
      ratio: ratioBare,
      interval: medianInterval(vsBare),
      goal: '— (info)',
    },
    {
      benchmark: `p99 latency, guarded vs minimum, ${at}`,
      measured: fmt(guarded.p99, 'ms'),
      baseline: fmt(min.p99, 'ms'),
      ratio: guarded.p99 / min.p99,
      goal: `≤ ${P99_GOAL.toFixed(2)}`,
      met: guarded.p99 / min.p99 <= P99_GOAL,
    },
    {
      benchmark: `server CPU per request, guarded vs minimum, ${size.label}`,
      measured: `${fmt(guarded.cpu, 'µs')} (${excess(cpuAbove, cpuAboveInterval)})`,
      baseline: `${fmt(min.cpu, 'µs')} (bare ${fmt(bare.cpu, 'µs')})`,
      ratio: guarded.cpu / min.cpu,
      goal: cpuGoal ? `≤ +${CPU_ABOVE_MINIMUM_GOAL} µs` : '— (info)',
      ...(cpuGoal ? { met: verdict(cpuAboveInterval, CPU_ABOVE_MINIMUM_GOAL, 'at most') } : {}),
    },
    {
      benchmark: `server CPU per request, guarded vs required, ${size.label}`,
      measured: `${fmt(guarded.cpu, 'µs')} (${excess(cpuAboveReq, medianInterval(cpuAboveRequired))})`,
      baseline: fmt(req.cpu, 'µs'),
      ratio: guarded.cpu / req.cpu,
      goal: '— (info)',
    },
    ...mainRows,
    {
      benchmark: `mark-compact GCs per 1,000 requests, guarded vs minimum, ${size.label}`,
      measured: num(guarded.majorPerThousand),
      baseline: `${num(min.majorPerThousand)} (bare ${num(bare.majorPerThousand)})`,
      ratio: undefined,
      goal: '≤ minimum',
      met: guarded.majorPerThousand <= min.majorPerThousand,
    },
  ];
}

/** A median excess in microseconds with its 95% interval: `+40 µs; +12 µs to +71 µs`. */
function excess(value: number, [low, high]: readonly [number, number]): string {
  return `${signedMicros(value)}; ${signedMicros(low)} to ${signedMicros(high)}`;
}

/** A difference in microseconds with its sign. */
function signedMicros(value: number): string {
  return `${value >= 0 ? '+' : ''}${fmt(value, 'µs')}`;
}

/** A unitless figure at `fmt`'s precision. */
function num(value: number): string {
  return fmt(value, '').trimEnd();
}

async function measureRound(
  server: ServerProcess,
  load: () => Promise<LoadResult>,
): Promise<Round> {
  const before = await server.usage();
  const result = await load();
  const after = await server.usage();
  const completed = Math.max(1, result.completed);
  return {
    load: result,
    cpuPerRequest: (after.micros - before.micros) / completed,
    mainCpuPerRequest:
      after.mainMicros === undefined || before.mainMicros === undefined
        ? undefined
        : (after.mainMicros - before.mainMicros) / completed,
    majorGcs: after.majorGcs - before.majorGcs,
  };
}
