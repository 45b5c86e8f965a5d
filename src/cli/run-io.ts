/**
 * What the CLI commands share: where a command writes (injectable for tests), its usage-error
 * path, the `--port` and other numeric values, and the wait of a long-running command for
 * SIGINT, SIGTERM or an abort.
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
