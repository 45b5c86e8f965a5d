// production: the production-shaped setup. Everything comes from the environment:
//   PORT, HOST                 where to listen (defaults 3000, 127.0.0.1; HOST=0.0.0.0 in a container)
//   PHOTODNA_BASE_URL          https://api.microsoftmoderator.com (unset: the in-process emulator,
//                              for trying this out; refused when NODE_ENV=production)
//   PHOTODNA_API_KEY           the PhotoDNA subscription key
//   QUARANTINE_DIR             the evidence store (default: ./quarantine next to this file)
//   FAIL_MODE                  'closed' (default): reject what could not be checked; or 'open'
//   REDIS_URL                  optional: one PhotoDNA rate limit shared by every instance
//   PHOTODNA_ORG_NAME, PHOTODNA_REPORTER_NAME, PHOTODNA_REPORTER_EMAIL, NCMEC_USER, NCMEC_PASSWORD
//                              NCMEC reporting; when all are set, every match is reported at once
//   NCMEC_TEST=true            send reports to NCMEC's test endpoint ('false' or unset: real
//                              reports; any other value stops startup)
//   LOG_LEVEL                  debug | info | warn | error (default info)
import { fileURLToPath } from 'node:url';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';
import { createLogger } from './logger.mjs';

const env = process.env;
const logger = createLogger(env.LOG_LEVEL);

// PhotoDNA. Without PHOTODNA_BASE_URL, run the emulator in-process and say so loudly: it only
// knows its own synthetic test images, so nothing real would ever be caught.
let emulator;
if (!env.PHOTODNA_BASE_URL) {
  if (env.NODE_ENV === 'production') {
    logger.error('PHOTODNA_BASE_URL is not set; refusing to start with the emulator in production');
    process.exit(1);
  }
  emulator = await startEmulator({ port: 0 });
  logger.warn(
    { emulator: emulator.url },
    '!!! PHOTODNA_BASE_URL is not set: using the LOCAL PHOTODNA EMULATOR. Uploads are NOT checked ' +
      'against real hash lists. Set PHOTODNA_BASE_URL and PHOTODNA_API_KEY for production. !!!',
  );
}

// 'true' or 'false' only: a typo ('1', 'yes') must not quietly send real reports.
if (env.NCMEC_TEST !== undefined && env.NCMEC_TEST !== 'true' && env.NCMEC_TEST !== 'false') {
  logger.error(`NCMEC_TEST must be 'true' or 'false', not ${JSON.stringify(env.NCMEC_TEST)}`);
  process.exit(1);
}

const reporter = {
  orgName: env.PHOTODNA_ORG_NAME,
  reporterName: env.PHOTODNA_REPORTER_NAME,
  reporterEmail: env.PHOTODNA_REPORTER_EMAIL,
  ncmecUser: env.NCMEC_USER,
  ncmecPassword: env.NCMEC_PASSWORD,
  isTest: emulator !== undefined || env.NCMEC_TEST === 'true',
};
const autoReport = Object.values(reporter).every((value) => value !== undefined && value !== '');
if (!autoReport) {
  logger.warn(
    'NCMEC reporter settings incomplete: matches are quarantined but not reported; ' +
      'file them with `photodna-guard quarantine report <id> --dir <QUARANTINE_DIR>`',
  );
}

const quarantineDir =
  env.QUARANTINE_DIR ?? fileURLToPath(new URL('./quarantine/', import.meta.url));

const guard = photodnaGuard({
  // With the emulator, point at it (it takes any non-empty key); otherwise the guard reads
  // PHOTODNA_API_KEY and PHOTODNA_BASE_URL itself, and throws at startup if the key is missing.
  ...(emulator ? { apiKey: 'emulator-key', baseUrl: emulator.url } : {}),
  policy: 'quarantine',
  // One year: how long US providers must preserve reported material (18 U.S.C. 2258A(h)).
  quarantine: { dir: quarantineDir, preserveDays: 365 },
  failMode: env.FAIL_MODE ?? 'closed', // a bad value fails here, naming 'failMode'
  ...(env.REDIS_URL ? { rateLimit: { redis: env.REDIS_URL } } : {}),
  reporter,
  logger,
  onMatch: autoReport ? fileReport : undefined,
});

// Awaited before the uploader gets the 422, after the evidence is durably stored.
async function fileReport(event) {
  try {
    const result = await event.report();
    logger.info(
      {
        incident: event.quarantineId,
        reportTrackingId: result.trackingId,
        isTest: reporter.isTest,
      },
      'NCMEC report filed',
    );
  } catch (error) {
    // The guard also emits an 'error' event (stage 'report'); the record says 'failed'.
    logger.error(
      { err: error, incident: event.quarantineId },
      'NCMEC report failed; retry with the CLI',
    );
  }
}

guard.on('match', (event) => {
  // event.buffer holds the matched image: never log it. Facts and ids only.
  logger.warn(
    {
      incident: event.id,
      route: `${event.method} ${event.route}`,
      ip: event.ip, // the client's address, thanks to 'trust proxy'
      sha256: event.file.sha256,
      trackingId: event.trackingId,
      matchFlags: event.matchFlags,
    },
    'PhotoDNA match',
  );
});
guard.on('quarantine', ({ record }) =>
  logger.info({ incident: record.id, preserveUntil: record.preserveUntil }, 'upload quarantined'),
);
guard.on('error', (event) => {
  // Service outages, bad keys (reason 'unauthorized') or spent quota ('quota-exceeded'), failed
  // quarantine writes: under failMode 'closed' uploads answer 503 until fixed. Alert on these.
  logger.error(
    { err: event.error, stage: event.stage, reason: event.reason, route: event.route },
    'photodna-guard error',
  );
});

const app = express();
app.disable('x-powered-by');
// Exactly one reverse proxy (the load balancer) in front: req.ip, which goes into the quarantine
// record and the NCMEC report, is then the uploader's address. Match this to your topology.
app.set('trust proxy', 1);

app.get('/healthz', (_req, res) => res.json({ ok: true }));

app.post('/photos', guard.single('photo'), (req, res) => {
  // Only clean uploads get here. Store req.file.buffer where your photos live.
  res.status(201).json({ received: req.file?.originalname, photodna: req.photodna });
});

// Anything thrown by a route or middleware: log it, answer a bare 500.
app.use((error, req, res, _next) => {
  logger.error({ err: error, route: `${req.method} ${req.path}` }, 'request failed');
  res.status(500).json({ error: { code: 'INTERNAL', message: 'Something went wrong.' } });
});

const host = env.HOST ?? '127.0.0.1';
const server = app.listen(Number(env.PORT ?? 3000), host, (error) => {
  if (error) throw error;
  logger.info(`listening on http://${host}:${server.address().port}`);
});

// Graceful shutdown: stop accepting, finish in-flight uploads (their scans, quarantine writes and
// reports), then close the guard and the emulator. Forced exit if that takes over 10 s.
async function shutdown(signal) {
  logger.info({ signal }, 'shutting down');
  setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, 10_000).unref();
  await new Promise((resolve) => server.close(resolve));
  await guard.close();
  await emulator?.close();
  logger.info('stopped');
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
