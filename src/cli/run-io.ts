/**
 * What the CLI commands share: where a command writes (injectable for tests), its usage-error
 * path, the `--port` and other numeric values, the wait of a long-running command for SIGINT,
 * SIGTERM or an abort, and the hold on those signals of a command that must finish what it started.
 */

/** Where `run` writes, and what stops a long-running command; the defaults are the process's. */
export interface RunIo {
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** Stops a long-running command like SIGINT does. */
  signal?: AbortSignal;
}

export interface Lines {
  out: (line: string) => void;
  err: (line: string) => void;
}

export function linesOf(io: RunIo): Lines {
  return {
    out: io.out ?? ((line) => process.stdout.write(`${line}\n`)),
    err: io.err ?? ((line) => process.stderr.write(`${line}\n`)),
  };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `parse()`'s result, or `undefined` after writing `photodna-guard <command>: <error>` and the
 * usage to `err` (the caller exits 2).
 */
export function parsedOrUsage<T>(
  parse: () => T,
  command: string,
  usage: string,
  err: (line: string) => void,
): T | undefined {
  try {
    return parse();
  } catch (error) {
    err(`photodna-guard ${command}: ${messageOf(error)}`);
    err(usage);
    return undefined;
  }
}

/** A `--port` value: an integer from 0 to 65535 (0 when absent), else `undefined`. */
export function portOf(value: string | undefined): number | undefined {
  const port = value === undefined ? 0 : Number(value);
  return Number.isInteger(port) && port >= 0 && port <= 65_535 ? port : undefined;
}

/** `value` as an integer from 1 to `max`; throws naming `flag` otherwise. */
export function positiveInteger(
  flag: string,
  value: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (Number.isInteger(n) && n >= 1 && n <= max) return n;
  const range =
    max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `an integer from 1 to ${max}`;
  throw new Error(`${flag} is ${range}, got ${value}`);
}

/** Resolves on SIGINT, SIGTERM or `signal`, removing its listeners. */
export function stopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
}

/** A hold on SIGINT and SIGTERM (see `holdSignals`). */
export interface SignalHold {
  /** 130 after SIGINT, 143 after SIGTERM (the shell's 128 + signal number); undefined before. */
  readonly exitCode: number | undefined;
  /** Gives the signals back to Node's default (the process ends on the next one). */
  release(): void;
}

/**
 * Holds SIGINT and SIGTERM until `release()`: the first one is noted (`exitCode`) and `onSignal`
 * called instead of the process ending mid-way through work that must finish (a journal's lines
 * written, a report sent and recorded). Only the first: the hold ends with it, so a second
 * signal (either) ends the process at once, as without the hold.
 */
export function holdSignals(onSignal: () => void = () => {}): SignalHold {
  let exitCode: number | undefined;
  const release = (): void => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
  function listener(signal: NodeJS.Signals): void {
    release();
    exitCode = signal === 'SIGTERM' ? 143 : 130;
    onSignal();
  }
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return {
    get exitCode() {
      return exitCode;
    },
    release,
  };
}
