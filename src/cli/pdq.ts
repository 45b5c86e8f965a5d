/**
 * `photodna-guard pdq hash|match`: PDQ hashes of image files, and their matches against local
 * hash lists. Needs sharp for JPEG, PNG, GIF and TIFF (BMP decodes without it).
 */
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createPdqMatcher,
  type PdqListFile,
  type PdqMatcher,
  pdqHash,
  pdqHashDihedral,
} from '../pdq/index.js';
import { DEFAULT_MIN_QUALITY } from '../pdq/matcher-options.js';
import { printable } from '../printable.js';
import { linesOf, parsedOrUsage, type RunIo } from './run-io.js';

const USAGE = `Usage:
  photodna-guard pdq hash <files...> [--dihedral]
  photodna-guard pdq match <files...> --list [NAME=]FILE [--list ...] [options]

hash   prints one line per file: "pdq <hash> <quality> <file>"; with --dihedral, seven more
       lines per file: "pdq-<transform> <hash> <quality> <file>".
match  prints one line per file and matching list: "match <list> <distance> <file>", or
       "clean - - <file>", "allowed <allow-list> - <file>", "low-quality <quality> - <file>".

Options:
  --list [NAME=]FILE        a hash list (one "pdq <hex>" or bare hex per line, or CSV with a
                            header); NAME defaults to the file name without extension (repeatable)
  --allow [NAME=]FILE       an allow-list of known false positives (repeatable)
  --threshold N             largest Hamming distance that matches (default 31)
  --min-quality N           lowest quality that can match (default 0: every hash)
  --dihedral                also hash/match rotations and flips
  --max-pixels N            refuse larger images (default 100000000)
  -h, --help                show this help

Exit codes: 0 every file hashed (match: and none matched); 1 match: at least one file matched;
2 usage error, or a list could not be loaded; 3 some file could not be read or decoded.`;

export type { RunIo };

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      list: { type: 'string', multiple: true },
      allow: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      'min-quality': { type: 'string' },
      'max-pixels': { type: 'string' },
      dihedral: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

class UsageError extends Error {}

function integer(value: string | undefined, name: string, min: number, max: number) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  }
  return n;
}

/** `NAME=FILE` or `FILE` (named after the file). */
function listArg(arg: string): PdqListFile {
  const eq = arg.indexOf('=');
  if (eq > 0) return { name: arg.slice(0, eq), path: arg.slice(eq + 1) };
  return { name: basename(arg, extname(arg)), path: arg };
}

const message = (error: unknown) => {
  const detail = (error as { detail?: unknown }).detail;
  if (typeof detail === 'string') return detail;
  return error instanceof Error ? error.message : String(error);
};

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const { out, err } = linesOf(io);
  const parsed = parsedOrUsage(() => parse(argv), 'pdq', USAGE, err);
  if (!parsed) return 2;
  const values: Values = parsed.values;
  const [command, ...files] = parsed.positionals;
  if (values.help || command === undefined) {
    (values.help ? out : err)(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    if (command === 'hash') return await hashFiles(files, values, out, err);
    if (command === 'match') return await matchFiles(files, values, out, err);
    throw new UsageError(`unknown pdq command '${command}' (known: hash, match)`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`photodna-guard pdq: ${error.message}`);
    err(USAGE);
    return 2;
  }
}

async function hashFiles(
  files: string[],
  values: Values,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  if (files.length === 0) throw new UsageError('pdq hash needs at least one file');
  const maxPixels = integer(values['max-pixels'], 'max-pixels', 1, Number.MAX_SAFE_INTEGER);
  const options = maxPixels === undefined ? {} : { maxPixels };
  let failed = false;
  for (const file of files) {
    try {
      if (values.dihedral) {
        const result = await pdqHashDihedral(file, options);
        for (const [name, hash] of Object.entries(result.dihedral)) {
          const label = name === 'original' ? 'pdq' : `pdq-${name}`;
          out(`${label} ${hash} ${result.quality} ${printable(file)}`);
        }
      } else {
        const { hash, quality } = await pdqHash(file, options);
        out(`pdq ${hash} ${quality} ${printable(file)}`);
      }
    } catch (error) {
      failed = true;
      err(printable(`photodna-guard pdq: ${file}: ${message(error)}`));
    }
  }
  return failed ? 3 : 0;
}

async function matchFiles(
  files: string[],
  values: Values,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  if (files.length === 0) throw new UsageError('pdq match needs at least one file');
  if (!values.list || values.list.length === 0) throw new UsageError('pdq match needs --list FILE');
  const threshold = integer(values.threshold, 'threshold', 0, 256);
  const minQuality = integer(values['min-quality'], 'min-quality', 0, 100);
  const maxPixels = integer(values['max-pixels'], 'max-pixels', 1, Number.MAX_SAFE_INTEGER);
  let matcher: PdqMatcher;
  try {
    matcher = createPdqMatcher({
      lists: values.list.map(listArg),
      allowLists: (values.allow ?? []).map(listArg),
      watch: false,
      dihedral: values.dihedral ?? false,
      ...(threshold === undefined ? {} : { threshold }),
      ...(minQuality === undefined ? {} : { minQuality }),
      ...(maxPixels === undefined ? {} : { maxPixels }),
    });
    await matcher.ready;
  } catch (error) {
    err(`photodna-guard pdq: ${message(error)}`);
    return 2;
  }
  const { readFile } = await import('node:fs/promises');
  let matched = false;
  let failed = false;
  try {
    for (const file of files) {
      try {
        const result = await matcher.matchBytes(await readFile(file));
        if (result.pdq.allowedBy !== undefined) {
          out(`allowed ${result.pdq.allowedBy} - ${printable(file)}`);
        } else if (result.pdq.quality < (minQuality ?? DEFAULT_MIN_QUALITY)) {
          out(`low-quality ${result.pdq.quality} - ${printable(file)}`);
        } else if (result.isMatch) {
          matched = true;
          for (const flag of result.matchFlags)
            out(`match ${flag.source} ${flag.matchDistance} ${printable(file)}`);
        } else {
          out(`clean - - ${printable(file)}`);
        }
      } catch (error) {
        failed = true;
        err(printable(`photodna-guard pdq: ${file}: ${message(error)}`));
      }
    }
  } finally {
    await matcher.close();
  }
  return matched ? 1 : failed ? 3 : 0;
}
