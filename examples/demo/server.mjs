// The demo: a local PhotoDNA emulator plus an Express app with an upload page.
// Run with `npm start` from the repository root (no PhotoDNA key needed).
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator, testImages } from 'photodna-guard/emulator';
import { page } from './page.mjs';

// PORT picks the port (0: any free one); HOST the interface, loopback unless you say otherwise.
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const emulator = await startEmulator({ port: 0 });

const guard = photodnaGuard({
  apiKey: 'demo-key', // the emulator accepts any non-empty key
  baseUrl: emulator.url,
  policy: 'block',
});

guard.on('match', (event) => {
  // Never log event.buffer: it holds the matched image.
  console.log(
    `[match] ${event.method} ${event.route} from ${event.ip}: ${event.file.originalname} ` +
      `(${event.file.mimetype}, ${event.file.width}x${event.file.height}, sha256 ${event.file.sha256.slice(0, 16)}…) ` +
      `tracking ${event.trackingId}, flags ${JSON.stringify(event.matchFlags)}`,
  );
});
guard.on('reject', (event) =>
  console.log(`[reject] ${event.code}${event.detail ? ` (${event.detail})` : ''}`),
);
guard.on('scan', (event) =>
  console.log(
    `[scan] ${event.file.originalname}: ${event.outcome} in ${event.durationMs.toFixed(1)} ms${event.cached ? ' (cached)' : ''}`,
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

const server = app.listen(port, host);
server.once('listening', () => {
  const actual = server.address().port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
  console.log(`PhotoDNA emulator: ${emulator.url}`);
  console.log(`Demo app:          ${url}`);
  console.log(`listening on ${url}`);
  console.log(
    'Upload any photo to see it accepted, or a test image from the page to see it rejected.',
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
  await guard.close();
  await emulator.close();
  process.exitCode = 1;
});

async function shutdown() {
  server.close();
  await guard.close();
  await emulator.close();
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
