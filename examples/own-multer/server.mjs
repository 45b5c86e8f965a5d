// own-multer: an app that keeps its own multer (disk storage) and adds `guard.scan()` after it.
// The guard checks the file multer wrote; when it rejects the upload, it deletes that file
// from disk before answering, so nothing rejected stays in the upload directory.
import { mkdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import multer from 'multer';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';

// PhotoDNA: the service at PHOTODNA_BASE_URL (key from PHOTODNA_API_KEY) when it is set,
// otherwise a local emulator in this process. The emulator accepts any non-empty key.
const emulator = process.env.PHOTODNA_BASE_URL ? undefined : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

const uploadDir = process.env.UPLOAD_DIR ?? fileURLToPath(new URL('./uploads/', import.meta.url));
// Private (0700): multer writes each upload here before the guard has checked it, with the
// default file mode; no other local user may read one (a matched image) in the meantime.
mkdirSync(uploadDir, { recursive: true, mode: 0o700 });

// The app's existing multer. Its limits default to Infinity: keep them finite.
const upload = multer({
  dest: uploadDir, // random file names, never the client's
  limits: { fileSize: 4 * 1024 * 1024, files: 1, fields: 20, parts: 25 },
});

const guard = photodnaGuard({ ...photodna, policy: 'block' });

guard.on('match', (event) => {
  // event.buffer holds the matched image (for event.report()): never log it. The file name
  // is the uploader's: JSON.stringify escapes line breaks that would forge a log line.
  console.log(
    `match: ${event.method} ${event.route} ${JSON.stringify(event.file.originalname)} ` +
      `sha256=${event.file.sha256} tracking=${event.trackingId} (its file is deleted from disk)`,
  );
});
guard.on('error', (event) =>
  console.error(`photodna-guard ${event.stage}: ${event.error.message}`),
);

const app = express();

app.post('/photos', upload.single('photo'), guard.scan(), (req, res) => {
  if (!req.file) {
    return res.status(400).json({ error: { code: 'NO_FILE', message: 'Send a photo.' } });
  }
  res.json({ stored: req.file.filename, photodna: req.photodna });
});

// What is on disk: clean uploads only.
app.get('/photos', async (_req, res) => {
  res.json({ files: await readdir(uploadDir).catch(() => []) });
});

// A body that is not valid multipart (cut short, a broken part header, no boundary): busboy,
// multer's parser, says so with plain Errors known only by their message. The client's fault.
const MALFORMED_BODY = new Set([
  'Unexpected end of form',
  'Unexpected end of file',
  'Malformed part header',
  'Multipart: Boundary not found',
  'Malformed content type',
]);

// multer's own errors (file too large, too many files...) and a malformed body as JSON, 4xx.
app.use((error, _req, res, next) => {
  if (MALFORMED_BODY.has(error?.message)) {
    const message = 'The multipart body is malformed.'; // as the guard answers one
    return res.status(400).json({ error: { code: 'MALFORMED_MULTIPART', message } });
  }
  if (!(error instanceof multer.MulterError)) return next(error);
  const status = error.code === 'LIMIT_FILE_SIZE' ? 413 : 400;
  res.status(status).json({ error: { code: error.code, message: error.message } });
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
