/**
 * `photodna-guard emulator`: runs the PhotoDNA emulator until SIGINT or SIGTERM.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type EmulatorOptions, startEmulator, testImages } from '../emulator/index.js';
import { linesOf, messageOf, parsedOrUsage, portOf, type RunIo, stopped } from './run-io.js';

const USAGE = `Usage: photodna-guard emulator [options]

Starts a local PhotoDNA-compatible server and runs until interrupted (Ctrl-C).

Options:
  --port N                   port to listen on (default 0: a free port)
  --host H                   interface to listen on (default 127.0.0.1)
  --api-key K                accept only this subscription key (default: any non-empty key)
  --admin-token T            the secret of the /__emulator/* admin and log routes, sent as
                             'Authorization: Bearer T' (default: a random token, printed)
  --allow-url-host HOST      a host (or host:port) the URL form may fetch from (repeatable;
                             default: only this emulator's own test images)
  --report-log-max N         reports kept in memory (default 100)
  --known FILE_OR_DIR        add an image, or every file of a directory, to the known list
                             (repeatable)
  --no-rate-limit            do not enforce the 5/s (v2) and 10/s (v1) rate limits
  --pdq                      also match edited copies of known images by PDQ distance (needs sharp)
  --write-test-images DIR    write the synthetic test images (on the known list) to DIR, then start
  -h, --help                 show this help`;

export type { RunIo };

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const { out, err } = linesOf(io);
  const values = parsedOrUsage(() => parse(argv).values, 'emulator', USAGE, err);
  if (!values) return 2;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const port = portOf(values.port);
  if (port === undefined) {
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
      ...(values['admin-token'] === undefined ? {} : { adminToken: values['admin-token'] }),
      ...(values['allow-url-host'] === undefined ? {} : { urlAllowList: values['allow-url-host'] }),
      ...(values['report-log-max'] === undefined
        ? {}
        : { reportLog: { max: Number(values['report-log-max']) } }),
      ...(values.pdq ? { pdq: true } : {}),
    };
    const emulator = await startEmulator(options);
    out(`PhotoDNA emulator listening on ${emulator.url}`);
    if (values['admin-token'] === undefined) {
      // Generated here, so only this terminal knows it: admin routes need it.
      out(`admin token (Authorization: Bearer ...): ${emulator.adminToken}`);
    }
    await stopped(io.signal);
    await emulator.close();
    return 0;
  } catch (error) {
    err(`photodna-guard emulator: ${messageOf(error)}`);
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
      'admin-token': { type: 'string' },
      'allow-url-host': { type: 'string', multiple: true },
      'report-log-max': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
