#!/usr/bin/env node
/**
 * `photodna-guard <command> [...]`: each command lives in its own file and exports
 * `run(argv): Promise<number>` (the exit code).
 */
import { createRequire } from 'node:module';
import { printable } from '../printable.js';

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  console: () => import('./console.js'),
  emulator: () => import('./emulator.js'),
  quarantine: () => import('./quarantine.js'),
  scan: () => import('./scan.js'),
  worker: () => import('./worker.js'),
  pdq: () => import('./pdq.js'),
};

const USAGE = `Usage: photodna-guard <command> [options]

Commands:
  console       serve the moderators' console for a quarantine directory on 127.0.0.1
  emulator      start the local PhotoDNA-compatible emulator
  quarantine    list, show, report, release, purge or audit quarantined incidents
  scan          backfill: scan existing files at the configured rate (results as JSON lines)
  worker        run deferred scan jobs from a BullMQ queue on Redis
  pdq           PDQ hashes of image files (hash) and matches against local lists (match)

Options:
  --version     print the version
  --help        print this help

Run "photodna-guard <command> --help" for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    // dist/cli/main.js (and src/cli/main.ts) sit two levels below package.json.
    const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const load = name === undefined ? undefined : COMMANDS[name];
  if (!load) {
    const help = name === undefined || name === '--help' || name === '-h';
    (help ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return help ? 0 : 2;
  }
  return (await load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The command is done: a handle a library left open (a Redis client still reconnecting)
    // must not keep the process alive. Unref'd: an idle process exits at once anyway.
    setTimeout(() => process.exit(), 2_000).unref();
  },
  (error: unknown) => {
    // A message may quote a manifest line or a path: printable.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${printable(`photodna-guard: ${message}`)}\n`);
    process.exitCode = 1;
  },
);
