/**
 * `photodna-guard console --dir DIR [--port N] [--test]`: the moderators' console for a store on
 * disk, on 127.0.0.1 only. Its login token comes from PHOTODNA_CONSOLE_TOKEN or is generated and
 * printed once. Reporting uses PHOTODNA_API_KEY / PHOTODNA_BASE_URL, PHOTODNA_ORG_NAME /
 * PHOTODNA_REPORTER_NAME / PHOTODNA_REPORTER_EMAIL and NCMEC_USER / NCMEC_PASSWORD (environment
 * only). Exit codes: 0 stopped, 1 failure, 2 usage.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createConsole } from '../console/create-console.js';
import { MIN_TOKEN_LENGTH } from '../console/options.js';
import { osUser } from './audit-trail.js';
import { linesOf, messageOf, parsedOrUsage, portOf, type RunIo, stopped } from './run-io.js';

const USAGE = `Usage: photodna-guard console --dir DIR [--port N] [--test] [--allow-list FILE]

Serves the moderators' console for the quarantine store in DIR on http://127.0.0.1:PORT/.

Options:
  --dir DIR            the quarantine directory (required; must exist)
  --port N             port on 127.0.0.1 (default 0: a free port)
  --test               send reports to NCMEC's test endpoint (marked on every page)
  --allow-list FILE    releases append the record's PDQ hash (if any, and not a listed one) to FILE
  -h, --help           this help

Environment:
  PHOTODNA_CONSOLE_TOKEN   the login token (at least ${MIN_TOKEN_LENGTH} characters); else one is generated and printed once
  PHOTODNA_API_KEY, PHOTODNA_BASE_URL, PHOTODNA_ORG_NAME, PHOTODNA_REPORTER_NAME,
  PHOTODNA_REPORTER_EMAIL, NCMEC_USER, NCMEC_PASSWORD   for reporting`;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);

export type { RunIo };

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const { out, err } = linesOf(io);
  const values = parsedOrUsage(() => parse(argv).values, 'console', USAGE, err);
  if (!values) return 2;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const port = portOf(values.port);
  if (!values.dir || port === undefined) {
    err(values.dir ? '--port must be an integer from 0 to 65535' : '--dir is required');
    return 2;
  }
  const info = await stat(values.dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    err(`photodna-guard console: no quarantine directory at ${values.dir}`);
    return 1;
  }
  const given = process.env.PHOTODNA_CONSOLE_TOKEN;
  const token = given || randomBytes(24).toString('base64url');
  try {
    const env = process.env;
    const console = createConsole({
      dir: values.dir,
      token,
      tokenActor: `console:${osUser()}`,
      reporter: {
        orgName: env.PHOTODNA_ORG_NAME,
        reporterName: env.PHOTODNA_REPORTER_NAME,
        reporterEmail: env.PHOTODNA_REPORTER_EMAIL,
        isTest: values.test === true,
      },
      ...(values['allow-list'] ? { allowList: { path: values['allow-list'] } } : {}),
    });
    const server = createServer((req, res) => {
      // Only loopback host names: a DNS-rebinding page cannot talk to the console.
      const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
      if (!LOOPBACK_HOSTS.has(host)) {
        res.statusCode = 421;
        res.end();
        return;
      }
      void console.handle(req, res, '');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    const address = server.address() as AddressInfo;
    out(`Moderators' console: http://127.0.0.1:${address.port}/`);
    if (!given) out(`Login token (shown once): ${token}`);
    if (values.test) out("TEST MODE: reports go to NCMEC's test endpoint");
    await stopped(io.signal);
    err(
      'photodna-guard console: stopping; waiting for reviewer actions in progress, if any (a report already sent is answered and recorded first; signal again to stop at once)',
    );
    await console.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    return 0;
  } catch (error) {
    err(`photodna-guard console: ${messageOf(error)}`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      dir: { type: 'string' },
      port: { type: 'string' },
      test: { type: 'boolean' },
      'allow-list': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
