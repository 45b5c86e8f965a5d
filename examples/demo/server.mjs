// The demo: an Express app with an upload page, checked by a local PhotoDNA emulator, or, with
// PDQ_LIST=<file>, by a local PDQ hash list alone (no PhotoDNA at all).
// Run with `npm start` from the repository root (no PhotoDNA key needed), or:
//   npx photodna-guard pdq hash known.jpg > list.txt
//   PDQ_LIST=list.txt npm start
import { mkdtempSync, rmSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator, testImages } from 'photodna-guard/emulator';
import { mountConsole } from './console.mjs';
import { page } from './page.mjs';

// PORT picks the port (0: any free one); HOST the interface, loopback unless you say otherwise.
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const pdqList = process.env.PDQ_LIST;
const emulator = pdqList ? undefined : await startEmulator({ port: 0 });
// Matches are kept as evidence in a private temp directory, for the console at /console.
const quarantineDir = mkdtempSync(join(tmpdir(), 'photodna-guard-demo-'));
const queueDir = mkdtempSync(join(tmpdir(), 'photodna-guard-demo-queue-'));

const guard = photodnaGuard({
  ...(pdqList
    ? // PDQ alone: every upload is hashed here and compared with the list (Hamming distance <= 31).
      // mode 'only': a PHOTODNA_API_KEY in your shell must not send the uploads to PhotoDNA too.
      { pdq: { lists: { mine: pdqList }, mode: 'only' } }
    : { apiKey: 'demo-key', baseUrl: emulator.url }), // the emulator accepts any non-empty key
  policy: 'quarantine',
  quarantine: { dir: quarantineDir },
  // Deferred scans (POST /upload-deferred) wait here; the guard's own worker scans them.
  queue: { dir: queueDir },
});

guard.on('match', (event) => {
  // Never log event.buffer: it holds the matched image. The file name is the uploader's:
  // JSON.stringify escapes line breaks that would forge a log line.
  console.log(
    `[match]${event.deferred ? ` (deferred scan ${event.scanId})` : ''} ${event.method} ${event.route} from ${event.ip}: ${JSON.stringify(event.file.originalname)} ` +
      `(${event.file.mimetype}, ${event.file.width}x${event.file.height}, sha256 ${event.file.sha256.slice(0, 16)}…) ` +
      `tracking ${event.trackingId}, flags ${JSON.stringify(event.matchFlags)}`,
  );
});
guard.on('reject', (event) =>
  console.log(
    `[reject]${event.deferred ? ` (deferred scan ${event.scanId})` : ''} ${event.code}${event.detail ? ` (${event.detail})` : ''}`,
  ),
);
guard.on('scan', (event) =>
  console.log(
    `[scan]${event.deferred ? ` (deferred scan ${event.scanId})` : ''} ${JSON.stringify(event.file.originalname)}: ${event.outcome} in ${event.durationMs.toFixed(1)} ms${event.cached ? ' (cached)' : ''}` +
      (event.file.pdq ? ` pdq ${event.file.pdq.hash} quality ${event.file.pdq.quality}` : ''),
  ),
);
guard.on('error', (event) => console.error(`[error] ${event.stage}: ${event.error.message}`));

const app = express();
const images = testImages();
const console_ = mountConsole(app, guard, { dir: quarantineDir, emulatorUrl: emulator?.url });

app.get('/', (_req, res) => res.type('html').send(page(images.map((image) => image.name))));
app.get('/test-images/:name', (req, res) => {
  const image = images.find((candidate) => candidate.name === req.params.name);
  if (!image) return res.sendStatus(404);
  res.type('png').attachment(image.name).send(image.bytes);
});
app.post('/upload', guard.single('image'), (req, res) => {
  res.json({ accepted: true, photodna: req.photodna });
});
// Deferred: accepted at once as 'pending' with a scanId; the scan (and any match) follows.
app.post('/upload-deferred', guard.route({ defer: true }).single('image'), (req, res) => {
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

const server = app.listen(port, host);
server.once('listening', () => {
  const actual = server.address().port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
  if (emulator) console.log(`PhotoDNA emulator: ${emulator.url}`);
  else console.log(`PDQ list:          ${pdqList} (no PhotoDNA)`);
  console.log(`Demo app:          ${url}`);
  console.log(`Console:           ${url}/console/`);
  console.log(`Console token (shown once): ${console_.token}`);
  console.log(`listening on ${url}`);
  console.log(
    emulator
      ? 'Upload any photo to see it accepted, or a test image from the page to see it rejected.'
      : 'Upload a listed image (or an edited copy of it) to see it rejected, any other to see it accepted.',
  );
});
server.once('error', async (error) => {
  if (error.code === 'EADDRINUSE') {
    console.error(
      `Port ${port} on ${host} is already in use. Start the demo on another port, e.g. PORT=3001 npm start`,
    );
  } else if (error.code === 'EACCES') {
    console.error(
      `Not allowed to listen on port ${port}. Choose a port above 1023, e.g. PORT=3001 npm start`,
    );
  } else {
    console.error(`The demo could not listen on ${host}:${port}: ${error.message}`);
  }
  await release();
  process.exitCode = 1;
});

/** Closes what the demo started and removes its temp directories (demo evidence only). */
async function release() {
  await console_.close();
  await guard.close();
  await emulator?.close();
  rmSync(quarantineDir, { recursive: true, force: true });
  rmSync(queueDir, { recursive: true, force: true });
}

async function shutdown() {
  server.close();
  await release();
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
