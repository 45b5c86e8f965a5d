// per-route-policies: one guard, a different policy per route with `guard.route(overrides)`.
//   POST /chat/messages  'flag'        a match reaches the handler, flagged on req.photodna
//   POST /profile/photo  'quarantine'  a match is stored as evidence, then rejected (422)
//   POST /posts          'block'       (the guard's default) a match is rejected (422)
// The routes share the guard's PhotoDNA client, rate limit, result cache and events.
// path-rules.mjs in this folder does the same with path rules and a single app.use(guard).
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';

// PhotoDNA: the service at PHOTODNA_BASE_URL (key from PHOTODNA_API_KEY) when it is set,
// otherwise a local emulator in this process. The emulator accepts any non-empty key.
const emulator = process.env.PHOTODNA_BASE_URL ? undefined : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

const quarantineDir =
  process.env.QUARANTINE_DIR ?? fileURLToPath(new URL('./quarantine/', import.meta.url));

const guard = photodnaGuard({
  ...photodna,
  policy: 'block', // every route that does not say otherwise
  quarantine: { dir: quarantineDir }, // required as soon as any route can quarantine
});

guard.on('match', (event) => {
  // event.buffer holds the matched image (for event.report()): never log it. The file name
  // is the uploader's: JSON.stringify escapes line breaks that would forge a log line.
  console.log(
    `match (${event.policy}): ${event.method} ${event.route} ${JSON.stringify(event.file.originalname)} ` +
      `sha256=${event.file.sha256} tracking=${event.trackingId}`,
  );
});
guard.on('quarantine', ({ record }) =>
  console.log(`quarantined incident ${record.id} in ${quarantineDir}`),
);
guard.on('error', (event) =>
  console.error(`photodna-guard ${event.stage}: ${event.error.message}`),
);

const app = express();

// Chat: don't break the conversation, but never deliver the image. The guard withholds a
// matched file from req.file; req.photodna.status is 'match', so the app can alert moderators.
// Never tell the sender (no req.photodna in the answer): that would confirm the hash matched.
app.post('/chat/messages', guard.route({ policy: 'flag' }).single('image'), (req, res) => {
  res.json({ delivered: true, image: req.file?.originalname ?? null });
});

// Profile photos: keep the evidence (file + JSON record, written durably before answering).
app.post('/profile/photo', guard.route({ policy: 'quarantine' }).single('photo'), (req, res) => {
  res.json({ updated: true, photodna: req.photodna });
});

// Everything else uses the guard's own policy, 'block'.
app.post('/posts', guard.single('image'), (req, res) => {
  res.json({ posted: true, photodna: req.photodna });
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
