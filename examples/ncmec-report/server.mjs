// ncmec-report: quarantine every match and file the NCMEC CyberTipline report from `onMatch`,
// through PhotoDNA's Report endpoint. `isTest: true` routes the report to NCMEC's test
// endpoint: nothing reaches a real CyberTipline queue while you try this out.
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';

// PhotoDNA: the service at PHOTODNA_BASE_URL (key from PHOTODNA_API_KEY) when it is set,
// otherwise a local emulator in this process. The emulator accepts any non-empty key and
// answers reports like the real Report endpoint (it keeps test reports in emulator.testReports).
const emulator = process.env.PHOTODNA_BASE_URL ? undefined : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

/** `value` with the emulator, nothing with the real service. */
const demo = (value) => (emulator ? value : undefined);

const quarantineDir =
  process.env.QUARANTINE_DIR ?? fileURLToPath(new URL('./quarantine/', import.meta.url));

const guard = photodnaGuard({
  ...photodna,
  policy: 'quarantine',
  quarantine: { dir: quarantineDir },
  // Defaults for event.report(). The same variables serve `photodna-guard quarantine report`.
  // Demo values fill in only for the emulator (it accepts any credentials): against the real
  // service a missing variable fails the report, which stays for a reviewer to file.
  reporter: {
    orgName: process.env.PHOTODNA_ORG_NAME ?? demo('Example Photos Inc.'),
    reporterName: process.env.PHOTODNA_REPORTER_NAME ?? demo('Trust & Safety'),
    reporterEmail: process.env.PHOTODNA_REPORTER_EMAIL ?? demo('trust-safety@example.com'),
    ncmecUser: process.env.NCMEC_USER ?? demo('demo-user'),
    ncmecPassword: process.env.NCMEC_PASSWORD ?? demo('demo-password'),
    isTest: true, // NCMEC's test endpoint (AdditionalMetadata IsTest=true)
  },
  // Awaited before the uploader gets the 422, after the file and its record are stored.
  onMatch: async (event) => {
    // event.buffer holds the matched image (report() sends it): never log it. The file name is the
    // uploader's: JSON.stringify escapes line breaks that would forge a log line.
    console.log(
      `match: ${event.method} ${event.route} ${JSON.stringify(event.file.originalname)} ` +
        `sha256=${event.file.sha256} incident=${event.quarantineId}`,
    );
    try {
      const result = await event.report();
      console.log(
        `reported incident ${event.quarantineId} to NCMEC (test endpoint): ` +
          `tracking id ${result.trackingId}, status ${result.statusCode}`,
      );
    } catch (error) {
      // The evidence stays in quarantine, its record marked 'failed': retry later with
      // `npx photodna-guard quarantine report <id> --dir ...`.
      console.error(`report for incident ${event.quarantineId} failed: ${error.message}`);
    }
  },
});
guard.on('error', (event) =>
  console.error(`photodna-guard ${event.stage}: ${event.error.message}`),
);

const app = express();
// req.ip goes into the quarantine record and the report as the uploader's address. Behind a
// reverse proxy tell Express how many there are, e.g. app.set('trust proxy', 1), or every
// report names your proxy; never `true`, which takes the address the client wrote.

app.post('/upload', guard.single('image'), (req, res) => {
  res.json({ accepted: true, photodna: req.photodna });
});

// Last: whatever a route or middleware passes on is logged here and answered as JSON, never
// with its stack (Express's own handler sends the stack to the client unless NODE_ENV=production).
app.use((error, req, res, next) => {
  if (res.headersSent) return next(error);
  console.error(`${req.method} ${req.path} failed:`, error);
  const status = error.status >= 400 && error.status < 500 ? error.status : 500;
  const code = status === 500 ? 'INTERNAL' : 'BAD_REQUEST';
  res.status(status).json({ error: { code, message: STATUS_CODES[status] } });
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', (error) => {
  if (error) throw error;
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

// Ctrl-C / SIGTERM: stop taking requests, let the guard go idle, stop the emulator.
async function shutdown() {
  await new Promise((resolve) => server.close(resolve));
  await guard.close();
  await emulator?.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
