/**
 * `photodna-guard emulator`: runs the PhotoDNA emulator until SIGINT or SIGTERM.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type EmulatorOptions, startEmulator, testImages } from '../emulator/index.js';

const USAGE = `Usage: photodna-guard emulator [options]

Starts a local PhotoDNA-compatible server and runs until interrupted (Ctrl-C).

Options:
  --port N                   port to listen on (default 0: a free port)
  --host H                   interface to listen on (default 127.0.0.1)
  --api-key K                accept only this subscription key (default: any non-empty key)
  --known FILE_OR_DIR        add an image, or every file of a directory, to the known list
                             (repeatable)
  --no-rate-limit            do not enforce the 5/s (v2) and 10/s (v1) rate limits
  --pdq                      also match edited copies of known images by PDQ distance (needs sharp)
  --write-test-images DIR    write the synthetic test images (on the known list) to DIR, then start
  -h, --help                 show this help`;

/** Where `run` writes, and what stops it; the defaults are the process's. */
export interface RunIo {
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** Stops the emulator like SIGINT does. */
  signal?: AbortSignal;
}

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = io.err ?? ((line: string) => process.stderr.write(`${line}\n`));

  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    err(`photodna-guard emulator: ${error instanceof Error ? error.message : String(error)}`);
    err(USAGE);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    err(`photodna-guard emulator: --port must be an integer from 0 to 65535, got ${values.port}`);
    return 2;
  }

  try {
    if (values['write-test-images'] !== undefined) {
      const dir = values['write-test-images'];
      await mkdir(dir, { recursive: true });
      for (const image of testImages()) {
        await writeFile(join(dir, image.name), image.bytes);
        out(`wrote ${join(dir, image.name)} (sha256 ${image.sha256})`);
      }
    }
    const options: EmulatorOptions = {
      port,
      ...(values.host === undefined ? {} : { host: values.host }),
      ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
      ...(values.known === undefined ? {} : { known: { images: values.known } }),
      ...(values['no-rate-limit'] ? { rateLimit: false as const } : {}),
      ...(values.pdq ? { pdq: true } : {}),
    };
    const emulator = await startEmulator(options);
    out(`PhotoDNA emulator listening on ${emulator.url}`);
    await stopped(io.signal);
    await emulator.close();
    return 0;
  } catch (error) {
    err(`photodna-guard emulator: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string' },
      known: { type: 'string', multiple: true },
      'no-rate-limit': { type: 'boolean' },
      pdq: { type: 'boolean' },
      'write-test-images': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Resolves on SIGINT, SIGTERM or `signal`, removing its listeners. */
function stopped(signal: AbortSignal | undefined): Promise<void> {
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
