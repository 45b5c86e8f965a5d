import { type ChildProcess, fork, spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { EmulatorCall, EmulatorOptions } from '../../src/emulator/types.js';
import type { QueueOption } from '../../src/queue/index.js';

/** Starts and drives `worker-process.ts` children for the queue tests. */

const CHILD = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

export interface WorkerSpec {
  queue: QueueOption;
  apiKey: string;
  baseUrl: string;
  perSecond: number;
  quarantineDir: string;
  concurrency: number;
  consume?: boolean;
  /** Answer this many matches, then hang (and say `hung`). */
  hangAfter?: number;
  /** Each match's `onMatch` waits for a `release` message (sent by `release()`). */
  holdMatches?: boolean;
  enqueue?: Array<{ scanId: string; path: string }>;
}

export type ChildMessage =
  | { type: 'ready' | 'enqueued' | 'hung' }
  | { type: 'depth'; waiting: number; active: number; oldestAgeMs: number }
  | {
      type: 'event';
      name: 'scan' | 'match' | 'quarantine' | 'error' | 'hung';
      scanId?: string;
      outcome?: string;
      deferred?: boolean;
      id?: string;
      quarantineId?: string;
      stage?: string;
      message?: string;
    };

export type WorkerEvent = Extract<ChildMessage, { type: 'event' }> & { worker: number };

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Resolves with the queue's depth as the child sees it. */
  depth(): Promise<{ waiting: number; active: number }>;
  /** Lets the matches held by `holdMatches` go on. */
  release(): void;
  kill(): Promise<void>;
  close(): Promise<void>;
}

/** Forks a worker; its events are appended to `events`. Resolves once it is consuming. */
export function startWorkerProcess(
  spec: WorkerSpec,
  events: WorkerEvent[],
  index = 0,
): Promise<WorkerProcess> {
  const child = fork(CHILD, [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let depthWaiter: ((depth: { waiting: number; active: number }) => void) | undefined;
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'event') events.push({ ...message, worker: index });
      if (message.type === 'hung') events.push({ type: 'event', name: 'hung', worker: index });
      if (message.type === 'depth') depthWaiter?.(message);
      if (message.type !== 'ready') return;
      resolve({
        child,
        depth: () =>
          new Promise((done) => {
            depthWaiter = done;
            child.send({ type: 'depth' });
          }),
        release: () => child.send({ type: 'release' }),
        kill: async () => {
          child.kill('SIGKILL');
          await exited;
        },
        close: async () => {
          if (child.exitCode === null && child.signalCode === null) child.send({ type: 'close' });
          await exited;
        },
      });
    });
  });
}

const EMULATOR = fileURLToPath(new URL('./emulator-process.ts', import.meta.url));

export interface EmulatorProcess {
  url: string;
  calls(): Promise<EmulatorCall[]>;
  close(): Promise<void>;
}

/**
 * Starts the emulator in a child process (see `emulator-process.ts`), its main thread favoured by
 * the scheduler where this process may do so (root, as in CI). The emulator stands for a remote
 * service whose clock shares no CPU with the client: on a loaded machine (both cores busy, Vitest's
 * workers beside it) the emulator's main thread could wait for a core longer than the client's
 * 15 ms window margin, stamp one call late and the next on time, and count six calls in a second
 * the client spaced over more than one.
 */
export function startEmulatorProcess(options: EmulatorOptions): Promise<EmulatorProcess> {
  const child = fork(EMULATOR, [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  favour(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`emulator exited early (${code})`)));
    child.once('message', (message: { type: string; url: string }) => {
      resolve({
        url: message.url,
        calls: () =>
          new Promise((done) => {
            const onMessage = (answer: { type: string; calls: EmulatorCall[] }) => {
              if (answer.type !== 'calls') return;
              child.off('message', onMessage);
              done(answer.calls);
            };
            child.on('message', onMessage);
            child.send({ type: 'calls' });
          }),
        close: async () => {
          if (child.exitCode === null) child.send({ type: 'close' });
          await exited;
        },
      });
    });
  });
}

/** Raises the child's scheduling priority when allowed; without the right it runs as it is. */
function favour(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    setPriority(child.pid, -10);
  } catch {
    // Not permitted (not root): the default priority.
  }
}

/**
 * `photodna-guard worker <args>` from the sources (`env` over this process's environment), its stdout
 * (and stderr) collected as text.
 */
export function spawnWorkerCli(
  args: string[],
  env: Record<string, string> = {},
): {
  child: ChildProcess;
  output: () => string;
  errors: () => string;
  exited: Promise<number | null>;
} {
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'worker', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, output: () => output, errors: () => errors, exited };
}
