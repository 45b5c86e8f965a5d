/**
 * `photodna-guard quarantine list|show|report|release|purge --dir DIR`: the reviewer's tool for
 * quarantined incidents. It never prints image bytes. NCMEC credentials come from the environment
 * only (flags would end up in shell history). Exit codes: 0 ok, 1 failure, 2 usage; 130 (SIGINT)
 * or 143 (SIGTERM) for a `report` stopped by a signal once its send was answered and recorded.
 */

import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { printable, printableJson } from '../printable.js';
import { createFileQuarantineStore } from '../quarantine/fs-store.js';
import { purgeDecision } from '../quarantine/purge-policy.js';
import { lastSuccessfulReport } from '../quarantine/record.js';
import { formatTable, SUMMARY_HEADER, summarize } from '../quarantine/summary.js';
import type { FileQuarantineStore } from '../quarantine/types.js';
import { missingReporterFields } from '../report/body.js';
import { tooLongReportFields, tooLongText } from '../report/field-limits.js';
import { outcomeUnknownOf, ReportOutcomeUnknown } from '../report/outcome-unknown.js';
import { purgeIncident, releaseIncident, reportIncident } from '../review/actions.js';
import { AUDIT_FILE } from '../review/audit-log.js';
import type { ReporterInfo, ReportResult } from '../types.js';
import { auditFile, reviewerOf } from './audit-trail.js';
import { holdSignals } from './run-io.js';
import { apiKeyOf } from './secrets.js';

type Values = Record<string, string | boolean | undefined>;
interface Context {
  store: FileQuarantineStore;
  values: Values;
  id: string;
}
interface Command {
  usage: string;
  options: Record<string, { type: 'string' | 'boolean' }>;
  takesId: boolean;
  run(ctx: Context): Promise<number>;
}

class UsageError extends Error {}

const COMMON =
  '  --dir DIR            the quarantine directory (required)\n  -h, --help           this help';
const REPORT_ENV = `Environment:
  PHOTODNA_API_KEY, PHOTODNA_BASE_URL              instead of --api-key / --base-url
  PHOTODNA_ORG_NAME, PHOTODNA_REPORTER_NAME,
  PHOTODNA_REPORTER_EMAIL                          instead of the reporter flags
  NCMEC_USER, NCMEC_PASSWORD                       NCMEC CyberTipline credentials (env only)`;

const USAGE = `Usage: photodna-guard quarantine <command> --dir DIR [options]

Commands:
  list            one line per incident (--json for JSON)
  show ID         the incident's record as JSON (never the image)
  report ID       file the NCMEC report through PhotoDNA's Report endpoint
  release ID      mark the incident reviewed/released (evidence is kept until preserveUntil)
  purge           remove incidents past preserveUntil that were reported or released
  audit           print the audit log of reviewers' actions (--verify checks its hash chain)

report, release and purge append an entry to DIR/audit.log (who, when, what, before/after).

Run "photodna-guard quarantine <command> --help" for a command's options.`;

const COMMANDS: Record<string, Command> = {
  list: {
    usage: `Usage: photodna-guard quarantine list --dir DIR [--json]\n\n${COMMON}\n  --json               print the records as a JSON array`,
    options: { json: { type: 'boolean' } },
    takesId: false,
    run: list,
  },
  show: {
    usage: `Usage: photodna-guard quarantine show ID --dir DIR\n\nPrints the record as JSON; never the image.\n\n${COMMON}`,
    options: {},
    takesId: true,
    run: async ({ store, id }) => {
      process.stdout.write(`${printableJson(await store.getRecord(id), 2)}\n`);
      return 0;
    },
  },
  report: {
    usage: `Usage: photodna-guard quarantine report ID --dir DIR [options]

${COMMON}
  --api-key KEY        PhotoDNA subscription key; prefer PHOTODNA_API_KEY (a command line
                       is visible to other users in ps and kept in shell history)
  --base-url URL       PhotoDNA base URL (e.g. the emulator's)
  --org-name NAME      --reporter-name NAME  --reporter-email EMAIL
  --reportee-name NAME --additional-info TEXT --publicly-available
  --reportee-ip IP     the uploader's IP as the reviewer established it (replaces the recorded
                       one; see the record's "network" for the peer and forwarding headers)
  --test               send to NCMEC's test endpoint (IsTest=true)
  --force              send again even if the incident was already reported, or an
                       earlier attempt may have reached NCMEC (its outcome is unknown),
                       or report one released as a false positive

${REPORT_ENV}`,
    options: {
      'api-key': { type: 'string' },
      'base-url': { type: 'string' },
      'org-name': { type: 'string' },
      'reporter-name': { type: 'string' },
      'reporter-email': { type: 'string' },
      'reportee-name': { type: 'string' },
      'reportee-ip': { type: 'string' },
      'additional-info': { type: 'string' },
      'publicly-available': { type: 'boolean' },
      test: { type: 'boolean' },
      force: { type: 'boolean' },
    },
    takesId: true,
    run: report,
  },
  release: {
    usage: `Usage: photodna-guard quarantine release ID --dir DIR [--reason TEXT] [--allow-list FILE]\n\n${COMMON}\n  --reason TEXT        why it was released (kept in the record)\n  --allow-list FILE    append the record's PDQ hash (if any, and not a listed one) to FILE as "pdq <hex>"`,
    options: { reason: { type: 'string' }, 'allow-list': { type: 'string' } },
    takesId: true,
    run: async ({ store, id, values }) => {
      const before = await store.getRecord(id);
      const allowList = str(values['allow-list']);
      // Killed between the record's update and its audit entry, a release would go unaudited.
      const signals = holdSignals(() =>
        process.stderr.write(
          'photodna-guard quarantine release: finishing the release and its audit entry (signal again to stop at once)\n',
        ),
      );
      try {
        const record = await releaseIncident(
          reviewerOf(store),
          id,
          str(values.reason),
          allowList ? { path: allowList } : undefined,
        );
        const verb = before.released ? 'was already released' : 'released';
        process.stdout.write(
          `${id} ${verb} at ${record.released?.at}; kept until ${record.preserveUntil}\n`,
        );
        return signals.exitCode ?? 0;
      } finally {
        signals.release();
      }
    },
  },
  purge: {
    usage: `Usage: photodna-guard quarantine purge --dir DIR [--dry-run]\n\nRemoves only incidents past preserveUntil that were reported or released.\n\n${COMMON}\n  --dry-run            print what would be removed, remove nothing`,
    options: { 'dry-run': { type: 'boolean' } },
    takesId: false,
    run: purge,
  },
  audit: {
    usage: `Usage: photodna-guard quarantine audit --dir DIR | --file LOG [--verify] [--json]

Prints DIR/audit.log (or LOG: a custom store's audit.path), one line per action. --verify checks the SHA-256 chain instead and exits
1 naming the first bad line when an entry was edited, inserted, removed or reordered.

${COMMON}
  --file LOG           an audit log elsewhere than DIR/audit.log (no --dir needed)
  --verify             check the hash chain
  --json               print the entries as JSON lines`,
    options: { verify: { type: 'boolean' }, json: { type: 'boolean' }, file: { type: 'string' } },
    takesId: false,
    run: audit,
  },
};

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') return out(USAGE, 0);
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) return err(name === undefined ? USAGE : `unknown command "${name}"\n\n${USAGE}`, 2);
  try {
    if (rest.some((arg) => /^--ncmec-(user|password)(=|$)/.test(arg))) {
      throw new UsageError('NCMEC credentials are read only from NCMEC_USER and NCMEC_PASSWORD');
    }
    const parsed = parse(rest, command);
    const values: Values = parsed.values;
    const { positionals } = parsed;
    if (values.help) return out(command.usage, 0);
    const dir = str(values.dir);
    const auditLog = name === 'audit' ? str(values.file) : undefined;
    if (auditLog && !dir) return await auditFile(auditLog, values);
    if (!dir) throw new UsageError('--dir is required');
    if (positionals.length !== (command.takesId ? 1 : 0)) {
      throw new UsageError(
        command.takesId ? 'expected exactly one incident ID' : 'unexpected arguments',
      );
    }
    const store = await openStore(dir);
    return await command.run({ store, values, id: positionals[0] ?? '' });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof UsageError) {
      return err(`${message}\nRun "photodna-guard quarantine ${name} --help" for usage.`, 2);
    }
    return err(printable(`photodna-guard quarantine ${name}: ${message}`), 1);
  }
}

function parse(args: string[], command: Command) {
  try {
    return parseArgs({
      args,
      options: {
        dir: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...command.options,
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** Opens an existing directory only: a mistyped --dir must not quietly create an empty store. */
async function openStore(dir: string): Promise<FileQuarantineStore> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`no quarantine directory at ${dir}`);
  return createFileQuarantineStore({ dir });
}

async function list({ store, values }: Context): Promise<number> {
  const records = await store.list();
  if (values.json) {
    process.stdout.write(`${printableJson(records, 2)}\n`);
  } else {
    const rows = records.map(summarize);
    if (rows.length > 0) process.stdout.write(formatTable([SUMMARY_HEADER, ...rows]));
    else process.stderr.write('no incidents\n');
  }
  const incomplete = await store.incomplete();
  if (incomplete.length > 0) {
    process.stderr.write(
      `warning: ${incomplete.length} image(s) without a record (interrupted writes, kept): ${incomplete.join(', ')}\n`,
    );
  }
  return 0;
}

async function report({ store, id, values }: Context): Promise<number> {
  const env = process.env;
  const warn = (line: string) => process.stderr.write(`${line}\n`);
  const apiKey = apiKeyOf(str(values['api-key']), warn);
  // PHOTODNA_BASE_URL is the client's default: left to it, a bad one is refused naming it.
  const baseUrl = str(values['base-url']);
  const info: Partial<ReporterInfo> = {
    orgName: str(values['org-name']) ?? env.PHOTODNA_ORG_NAME,
    reporterName: str(values['reporter-name']) ?? env.PHOTODNA_REPORTER_NAME,
    reporterEmail: str(values['reporter-email']) ?? env.PHOTODNA_REPORTER_EMAIL,
    ncmecUser: env.NCMEC_USER,
    ncmecPassword: env.NCMEC_PASSWORD,
    isTest: values.test === true,
    publiclyAvailable: values['publicly-available'] === true,
  };
  const reporteeName = str(values['reportee-name']);
  const additionalInfo = str(values['additional-info']);
  if (reporteeName !== undefined) info.reporteeName = reporteeName;
  const reporteeIp = str(values['reportee-ip']);
  if (reporteeIp !== undefined) {
    if (isIP(reporteeIp.trim()) === 0) throw new UsageError(`--reportee-ip: not an IP address`);
    info.reporteeIpAddress = reporteeIp.trim();
  }
  if (additionalInfo !== undefined) info.additionalInfo = additionalInfo;
  if (!apiKey) throw new UsageError('no API key: pass --api-key or set PHOTODNA_API_KEY');
  const missing = missingReporterFields(info).map((key) => FIELD_SOURCES[key] ?? key);
  if (missing.length > 0) throw new UsageError(`missing reporter details: ${missing.join('; ')}`);
  const tooLong = tooLongReportFields(info).map((found) =>
    tooLongText(found, FIELD_SOURCES[found.field]),
  );
  if (tooLong.length > 0) throw new UsageError(`not sent: ${tooLong.join('; ')}`);

  const force = values.force === true;
  const filed = lastSuccessfulReport(await store.getRecord(id), info.isTest === true);
  const { PhotoDnaClient } = await import('../client/index.js');
  const client = new PhotoDnaClient({ apiKey, ...(baseUrl ? { baseUrl } : {}) });
  // Killed while the report is sent, the record would not say whether NCMEC got it: once the
  // claim expires (10 minutes) the next run would send it again. So SIGINT and SIGTERM let the
  // send finish and be recorded first; a second signal still ends it at once. Before the send
  // (waiting on another reporter's claim) the first signal stops at once: nothing went out.
  const stop = new AbortController();
  const signals = holdSignals(() => {
    process.stderr.write(
      'photodna-guard quarantine report: stopping once the report is answered and recorded, if it was sent (signal again to stop at once: NCMEC may then receive it twice)\n',
    );
    stop.abort();
  });
  try {
    const send = {
      sender: client,
      info: info as ReporterInfo,
      force,
      stopBeforeSending: stop.signal,
      onClaimWait: ({ until }: { until: string }) =>
        process.stderr.write(
          `photodna-guard quarantine report: another reporter is sending ${id}; waiting for its outcome (at most until ${until})\n`,
        ),
    };
    let result: ReportResult;
    try {
      result = await reportIncident(reviewerOf(store), id, send);
    } catch (error) {
      if (error instanceof ReportOutcomeUnknown) {
        throw new ReportOutcomeUnknown(id, error.detail, '--force sends it anyway');
      }
      if (outcomeUnknownOf(error)) {
        process.stderr.write(
          `photodna-guard quarantine report: ${id} may have reached NCMEC all the same (no answer said what became of it); the record says so, and a later report is refused until --force\n`,
        );
      }
      if (signals.exitCode === undefined || !stop.signal.aborted || !isAbort(error)) throw error;
      process.stderr.write(`photodna-guard quarantine report: stopped; ${id} was not sent\n`);
      return signals.exitCode;
    }
    const what =
      filed && !force
        ? `was already reported at ${filed.at} (use --force to send again)`
        : 'reported';
    const test = (filed && !force ? filed.isTest : info.isTest) ? ', test endpoint' : '';
    process.stdout.write(
      `${id} ${what}: tracking id ${result.trackingId}, status ${result.statusCode}${test}\n`,
    );
    return signals.exitCode ?? 0;
  } finally {
    signals.release();
    await client.close();
  }
}

const FIELD_SOURCES: Partial<Record<keyof ReporterInfo, string>> = {
  orgName: '--org-name or PHOTODNA_ORG_NAME',
  reporterName: '--reporter-name or PHOTODNA_REPORTER_NAME',
  reporterEmail: '--reporter-email or PHOTODNA_REPORTER_EMAIL',
  ncmecUser: 'NCMEC_USER',
  ncmecPassword: 'NCMEC_PASSWORD',
  reporteeName: '--reportee-name',
  additionalInfo: '--additional-info',
};

async function purge({ store, values }: Context): Promise<number> {
  const now = new Date();
  const records = await store.list();
  const dryRun = values['dry-run'] === true;
  const reviewer = reviewerOf(store);
  // Killed between an incident's removal and its audit entry, a purge would go unaudited: a
  // signal ends the run after the incident at hand (a second one at once).
  const signals = holdSignals(() =>
    process.stderr.write(
      'photodna-guard quarantine purge: stopping after the incident at hand (signal again to stop at once)\n',
    ),
  );
  let count = 0;
  let seen = 0;
  try {
    for (const record of records) {
      if (signals.exitCode !== undefined) break;
      let decision = purgeDecision(record, now);
      if (decision.purge && !dryRun) decision = await purgeIncident(reviewer, record.id, now);
      seen++;
      const gone = decision.purge;
      if (gone) count++;
      const verb = gone ? (dryRun ? 'would remove' : 'removed') : 'kept';
      process.stdout.write(`${verb} ${record.id} (${decision.reason})\n`);
    }
  } finally {
    signals.release();
  }
  const stopped = seen < records.length ? `; stopped, ${records.length - seen} not looked at` : '';
  const summary = `${dryRun ? 'would remove' : 'removed'} ${count}, kept ${seen - count}${stopped}`;
  process.stdout.write(`${summary}\n`);
  return signals.exitCode ?? 0;
}

function audit({ store, values }: Context): Promise<number> {
  return auditFile(join(store.dir, AUDIT_FILE), values);
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function str(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function out(text: string, code: number): number {
  process.stdout.write(`${text}\n`);
  return code;
}

function err(text: string, code: number): number {
  process.stderr.write(`${text}\n`);
  return code;
}
