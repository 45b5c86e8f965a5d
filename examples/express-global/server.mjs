// express-global: one `app.use(photodnaGuard(...))` line guards every route of the app.
// Every multipart upload is parsed (like `multer().any()`), validated as an image and checked
// against PhotoDNA before any route handler runs. Other requests pass through untouched.
import { STATUS_CODES } from 'node:http';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';

// PhotoDNA: the service at PHOTODNA_BASE_URL (key from PHOTODNA_API_KEY) when it is set,
// otherwise a local emulator in this process. The emulator accepts any non-empty key.
const emulator = process.env.PHOTODNA_BASE_URL ? undefined : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

const guard = photodnaGuard({ ...photodna, policy: 'block' });

guard.on('match', (event) => {
  // event.buffer holds the matched image (for event.report()): never log it. The file name
  // is the uploader's: JSON.stringify escapes line breaks that would forge a log line.
  console.log(
    `match: ${event.method} ${event.route} ${JSON.stringify(event.file.originalname)} ` +
      `sha256=${event.file.sha256} tracking=${event.trackingId} policy=${event.policy}`,
  );
});
guard.on('error', (event) =>
  console.error(`photodna-guard ${event.stage}: ${event.error.message}`),
);

const app = express();
app.use(guard); // every route, every multipart request

app.post('/upload', (req, res) => {
  // Only clean uploads get here: a match was already answered 422 INVALID_IMAGE, like an unreadable image.
  res.json({
    received: req.files.map((file) => ({ field: file.fieldname, size: file.size })),
    photodna: req.photodna,
  });
});

app.post('/comments', express.json(), (req, res) => {
  // Not multipart: the guard let it through unread, so express.json() still works.
  res.status(201).json({ comment: req.body, photodna: req.photodna ?? null });
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
// (`once`: a second Ctrl-C kills the process right away.)
async function shutdown() {
  await new Promise((resolve) => server.close(resolve));
  await guard.close();
  await emulator?.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
