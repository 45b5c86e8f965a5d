/**
 * `npm run bench` runs every benchmark and prints one table; `npm run bench -- rate cache` runs
 * some; `--burst N` sets the rate benchmark's burst (default 100). See bench/README.md.
 */
import { availableParallelism } from 'node:os';
import { allocation } from './allocation.js';
import { cache } from './cache.js';
import { callgrind } from './callgrind.js';
import { hashing } from './hashing.js';
import { holds } from './holds.js';
import { hostile } from './hostile.js';
import type { Benchmark, BenchSettings } from './lib/benchmark.js';
import { printTable, type Row } from './lib/table.js';
import { matchHash } from './match-hash.js';
import { memory } from './memory.js';
import { pdqHashBench } from './pdq-hash.js';
import { pdqIndex } from './pdq-index.js';
import { rate } from './rate.js';
import { serviceTime } from './service-time.js';
import { throughput } from './throughput.js';
import { validation } from './validation.js';

const ALL: readonly Benchmark[] = [
  validation,
  hostile,
  throughput,
  serviceTime,
  allocation,
  rate,
  matchHash,
  cache,
  memory,
  pdqIndex,
  pdqHashBench,
  hashing,
  callgrind,
  holds,
];
/**
 * Run only when named: too slow for the default set (callgrind), or of the deferred path alone,
 * with its own redis-server and strace (holds).
 */
const ON_REQUEST: readonly Benchmark[] = [callgrind, holds];

const USAGE = `usage: npm run bench [-- [${ALL.map((b) => b.name).join('|')} ...] [--burst N]]`;

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): { selected: Benchmark[]; settings: BenchSettings } {
  const settings: BenchSettings = { burst: 100 };
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--burst' || arg.startsWith('--burst=')) {
      const value = arg.includes('=') ? arg.slice('--burst='.length) : argv[++i];
      const burst = Number(value);
      if (!Number.isInteger(burst) || burst < 2 || burst > 1000) {
        throw new UsageError(`--burst expects an integer from 2 to 1000, got '${value}'`);
      }
      settings.burst = burst;
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option '${arg}' (known: --burst N)`);
    } else {
      names.push(arg);
    }
  }
  const unknown = names.filter((name) => !ALL.some((b) => b.name === name));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown benchmark '${unknown.join("', '")}' (known: ${ALL.map((b) => b.name).join(', ')})`,
    );
  }
  const selected =
    names.length === 0
      ? ALL.filter((b) => !ON_REQUEST.includes(b))
      : ALL.filter((b) => names.includes(b.name));
  return { selected, settings };
}

async function main(): Promise<void> {
  const { selected, settings } = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  const started = performance.now();
  for (const benchmark of selected) {
    console.log(`\n[${benchmark.name}] ${benchmark.about}`);
    const t0 = performance.now();
    try {
      rows.push(...(await benchmark.run(settings)));
    } catch (error) {
      // One broken benchmark does not hide the others' figures.
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exitCode = 1;
      rows.push({
        benchmark: benchmark.name,
        measured: 'FAILED (see above)',
        baseline: '',
        ratio: undefined,
        goal: '',
        met: false,
      });
    }
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `\nphotodna-guard benchmarks, Node ${process.version}, ${availableParallelism()} cores, ${new Date().toISOString().slice(0, 10)}, ${seconds} s\n`,
  );
  printTable(rows);
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
