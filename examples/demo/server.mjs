// The demo: a local PhotoDNA emulator plus an Express app with an upload page.
// Run with `npm start` from the repository root (no PhotoDNA key needed).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator, testImages } from 'photodna-guard/emulator';
import { page } from './page.mjs';

const port = Number(process.env.PORT ?? 3000);
const emulator = await startEmulator({ port: 0 });

const guard = photodnaGuard({
  apiKey: 'demo-key', // the emulator accepts any non-empty key
  baseUrl: emulator.url,
  policy: 'block',
  // Deferred scans (POST /upload-deferred) wait here; the guard's own worker scans them.
  queue: { dir: mkdtempSync(join(tmpdir(), 'photodna-demo-queue-')) },
});

guard.on('match', (event) => {
  // Never log event.buffer: it holds the matched image.
  console.log(
    `[match]${event.deferred ? ` (deferred scan ${event.scanId})` : ''} ${event.method} ${event.route} from ${event.ip}: ${event.file.originalname} ` +
      `(${event.file.mimetype}, ${event.file.width}x${event.file.height}, sha256 ${event.file.sha256.slice(0, 16)}…) ` +
      `tracking ${event.trackingId}, flags ${JSON.stringify(event.matchFlags)}`,
  );
});
guard.on('reject', (event) =>
  console.log(`[reject] ${event.code}${event.detail ? ` (${event.detail})` : ''}`),
);
guard.on('scan', (event) =>
  console.log(
    `[scan]${event.deferred ? ` (deferred scan ${event.scanId})` : ''} ${event.file.originalname}: ${event.outcome} in ${event.durationMs.toFixed(1)} ms${event.cached ? ' (cached)' : ''}`,
  ),
);
guard.on('error', (event) => console.error(`[error] ${event.stage}: ${event.error.message}`));

const app = express();
const images = testImages();

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

const server = app.listen(port, () => {
  const actual = server.address().port;
  console.log(`PhotoDNA emulator: ${emulator.url}`);
  console.log(`Demo app:          http://localhost:${actual}`);
  console.log(`listening on http://127.0.0.1:${actual}`);
  console.log(
    'Upload any photo to see it accepted, or a test image from the page to see it rejected.',
  );
});

async function shutdown() {
  server.close();
  await guard.close();
  await emulator.close();
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
