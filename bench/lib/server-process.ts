import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { HeapSample } from './heap-sampler.js';

/**
 * The app under test runs in its own Node process (`server-child.ts`), so that the load
 * generator, the emulator and this process's own allocations share neither its event loop nor
 * its RSS. It serves four routes with the same handler:
 * - `POST /bare`: `multer().any()` (memory storage), the baseline;
 * - `POST /minimum`: multer plus the least any guard must do (issue 16's baseline);
 * - `POST /required`: minimum plus the safety work the guard's other promises require;
 * - `POST /guarded`: `guard.any()` of `photodnaGuard(...)` built from `GuardSpec`.
 */
export type GuardSpec =
  /** A custom matcher answering "no match" at once; `cache: false`, so every file reaches it. */
  | { kind: 'instant' }
  /** The real PhotoDNA client against `baseUrl` (the emulator). */
  | {
      kind: 'photodna';
      baseUrl: string;
      cache: boolean;
      perSecond: number;
      maxQueue: number;
      scanTimeoutMs: number;
      /** A `redis://` URL for a rate limit shared with other processes (`rateLimit.redis`). */
      redis?: string;
      /**
       * MatchHash batches with the test stand-in hasher (`test/helpers/test-hasher.ts`, not
       * PhotoDNA) and this `batchWindowMs`, instead of one Match per file.
       */
      hasher?: { windowMs: number };
    };

export type ToChild =
  | { type: 'sample-start' }
  | { type: 'sample-stop' }
  | { type: 'cpu' }
  | { type: 'gc' }
  | { type: 'heap-start' }
  | { type: 'heap-stop' }
  | { type: 'close' };
export type FromChild =
  | { type: 'ready'; origin: string }
  | { type: 'sampling'; baseline: number }
  | { type: 'sample'; baseline: number; peak: number }
  | { type: 'cpu'; micros: number; mainMicros: number | undefined; majorGcs: number }
  | { type: 'collected' }
  | { type: 'heap-sampling' }
  | { type: 'heap'; sample: HeapSample };

export interface ServerProcess {
  origin: string;
  /** Collects garbage, records the baseline RSS and starts sampling RSS every 10 ms. */
  startSampling(): Promise<number>;
  /** Stops sampling; the baseline and the highest RSS seen, in bytes. */
  stopSampling(): Promise<{ baseline: number; peak: number }>;
  /** CPU time (user + system) the server process has used so far, in microseconds. */
  cpuMicros(): Promise<number>;
  /**
   * CPU time so far (µs): the process's and, on Linux, its main thread's alone; and the full
   * (mark-compact) GCs V8 has run so far.
   */
  usage(): Promise<{ micros: number; mainMicros: number | undefined; majorGcs: number }>;
  /** Runs a full garbage collection in the server (`--expose-gc`). */
  collect(): Promise<void>;
  /** Starts V8's sampling heap profiler in the server (`lib/heap-sampler.ts`). */
  startHeapSampling(): Promise<void>;
  /** Stops it: the bytes allocated on the JavaScript heap since, and the top allocating functions. */
  stopHeapSampling(): Promise<HeapSample>;
  /** The process id (under `callgrind`, the id `callgrind_control` takes). */
  pid: number;
  close(): Promise<void>;
}

const CHILD = new URL('./server-child.ts', import.meta.url);

export interface StartOptions {
  /** Runs the server under `valgrind --tool=callgrind`, instrumentation written to this file. */
  callgrindOut?: string;
  /** More `valgrind` options under `callgrindOut` (e.g. `--cache-sim=yes`). */
  callgrindArgs?: readonly string[];
  /** Extra flags for the server's Node (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
}

export async function startServer(
  spec: GuardSpec,
  options: StartOptions = {},
): Promise<ServerProcess> {
  // Bundled (no tsx at run time): what users run is plain JS. tsx compiles with `keepNames`,
  // which wraps every function expression in a per-call `__name(...)` (a defineProperty).
  const bundle = await bundledChild();
  const nodeArgs = ['--expose-gc', ...(options.nodeArgs ?? [])];
  const child = options.callgrindOut
    ? fork(bundle, [JSON.stringify(spec)], {
        execPath: 'valgrind',
        execArgv: [
          '--tool=callgrind',
          '--trace-children=no',
          // One file per thread and dump (`<file>.<dump>-<thread>`): the main thread apart.
          '--separate-threads=yes',
          `--callgrind-out-file=${options.callgrindOut}`,
          ...(options.callgrindArgs ?? []),
          process.execPath,
          ...nodeArgs,
        ],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      })
    : fork(bundle, [JSON.stringify(spec)], {
        execArgv: nodeArgs,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
  const ready = await reply(child, 'ready', options.callgrindOut ? 1_800_000 : 60_000).catch(
    async (error: unknown) => {
      child.kill('SIGKILL'); // never leave a stray server (under valgrind, a busy one) behind
      await rm(bundle, { force: true });
      throw error;
    },
  );
  return {
    origin: ready.origin,
    pid: child.pid as number,
    async startSampling() {
      child.send({ type: 'sample-start' } satisfies ToChild);
      return (await reply(child, 'sampling')).baseline;
    },
    async stopSampling() {
      child.send({ type: 'sample-stop' } satisfies ToChild);
      const { baseline, peak } = await reply(child, 'sample');
      return { baseline, peak };
    },
    async cpuMicros() {
      child.send({ type: 'cpu' } satisfies ToChild);
      return (await reply(child, 'cpu')).micros;
    },
    async collect() {
      child.send({ type: 'gc' } satisfies ToChild);
      await reply(child, 'collected', 600_000);
    },
    async startHeapSampling() {
      child.send({ type: 'heap-start' } satisfies ToChild);
      await reply(child, 'heap-sampling');
    },
    async stopHeapSampling() {
      child.send({ type: 'heap-stop' } satisfies ToChild);
      return (await reply(child, 'heap')).sample;
    },
    async usage() {
      child.send({ type: 'cpu' } satisfies ToChild);
      const { micros, mainMicros, majorGcs } = await reply(child, 'cpu');
      return { micros, mainMicros, majorGcs };
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'close' } satisfies ToChild);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(bundle, { force: true });
    },
  };
}

let bundles = 0;

/** `server-child.ts` and the library as one ES module (packages stay external). */
async function bundledChild(): Promise<string> {
  const { build } = await import('esbuild'); // tsx's own compiler, installed with it
  // Next to the source, so that the external packages resolve from this repository.
  const outfile = fileURLToPath(new URL(`./.server-child-${process.pid}-${++bundles}.mjs`, CHILD));
  await build({
    entryPoints: [fileURLToPath(CHILD)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/** The child's next message of `type`; rejects if it exits first or takes over `ms` (a minute). */
function reply<T extends FromChild['type']>(
  child: ChildProcess,
  type: T,
  ms = 60_000,
): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromChild) => {
      if (message.type !== type) return;
      done();
      resolve(message as Extract<FromChild, { type: T }>);
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`the server process exited (code ${code}) before '${type}'`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the server process did not answer '${type}' within ${ms / 1000} s`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
