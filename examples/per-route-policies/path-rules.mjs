// per-route-policies, the alternative: path rules. The guard is mounted once, for the whole
// app, and picks the policy from the request path: the first rule whose path prefix covers it
// ('/chat' covers '/chat/messages', not '/chatroom'). A path no rule covers is blocked.
// Same routes and answers as server.mjs; handlers read req.files (the guard parses like
// multer().any()).
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { photodnaGuard } from 'photodna-guard';
import { startEmulator } from 'photodna-guard/emulator';

const emulator = process.env.PHOTODNA_BASE_URL ? undefined : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

const quarantineDir =
  process.env.QUARANTINE_DIR ?? fileURLToPath(new URL('./quarantine/', import.meta.url));

const guard = photodnaGuard({
  ...photodna,
  policy: [
    { path: '/chat', policy: 'flag' },
    { path: '/profile', policy: 'quarantine' },
    // anything else: 'block'
  ],
  quarantine: { dir: quarantineDir },
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
app.use(guard);

const names = (req) => req.files?.map((file) => file.originalname) ?? [];

app.post('/chat/messages', (req, res) => {
  // A matched file is withheld from req.files; req.photodna says what matched, for your
  // moderators: never echo it to the sender, it would confirm the hash matched.
  res.json({ delivered: true, images: names(req) });
});
app.post('/profile/photo', (req, res) => res.json({ updated: true, photodna: req.photodna }));
app.post('/posts', (req, res) => res.json({ posted: true, photodna: req.photodna }));

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

async function shutdown() {
  await new Promise((resolve) => server.close(resolve));
  await guard.close();
  await emulator?.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
