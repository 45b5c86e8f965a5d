import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';

/** Starts and stops the guard processes of `guard-process.ts`. */

export interface GuardProcessSpec {
  apiKey: string;
  baseUrl: string;
  redis: string;
  perSecond: number;
  scanTimeoutMs: number;
}

export type ChildMessage =
  | { type: 'ready'; url: string }
  | { type: 'error-event'; stage: string; reason?: string; message: string };
export type ParentMessage = { type: 'close' };

export interface GuardProcess {
  url: string;
  /** The guard's `error` events so far. */
  errors: Array<Extract<ChildMessage, { type: 'error-event' }>>;
  close(): Promise<void>;
}

const CHILD = new URL('./guard-process.ts', import.meta.url);

export async function startGuardProcess(spec: GuardProcessSpec): Promise<GuardProcess> {
  const child = fork(CHILD, [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const errors: GuardProcess['errors'] = [];
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'error-event') errors.push(message);
  });
  const url = await ready(child);
  return {
    url,
    errors,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'close' } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function ready(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('a guard process did not start within 20 s'));
    }, 20_000);
    child.on('message', (message: ChildMessage) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve(message.url);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`a guard process exited (code ${code}) before it was ready`));
    });
  });
}
