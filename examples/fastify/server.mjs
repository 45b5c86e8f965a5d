// fastify: the Fastify 5 plugin from 'photodna-guard/fastify', registered the Fastify way.
// Every route registered after it is guarded before validation; `config.photodna` overrides the
// options per route (or `false` skips a route). `request.photodna` says what the check found,
// `request.body` holds the text fields and `request.uploads` the files (multer's shape).
import Fastify from 'fastify';
import { startEmulator } from 'photodna-guard/emulator';
import { photodnaGuard } from 'photodna-guard/fastify';

// PhotoDNA: the service at PHOTODNA_BASE_URL (key from PHOTODNA_API_KEY) when it is set,
// otherwise a local emulator in this process. The emulator accepts any non-empty key.
const emulator = process.env.PHOTODNA_BASE_URL ? undefined : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

const app = Fastify();
await app.register(photodnaGuard, { ...photodna, policy: 'block' });

app.photodna.on('match', (event) => {
  // event.buffer holds the matched image (for event.report()): never log it. The file name
  // is the uploader's: JSON.stringify escapes line breaks that would forge a log line.
  console.log(
    `match: ${event.method} ${event.route} ${JSON.stringify(event.file.originalname)} ` +
      `sha256=${event.file.sha256} tracking=${event.trackingId} policy=${event.policy}`,
  );
});
app.photodna.on('error', (event) =>
  console.error(`photodna-guard ${event.stage}: ${event.error.message}`),
);

// Only clean uploads get here: a match was already answered 422 INVALID_IMAGE, like an unreadable image.
app.post(
  '/photos',
  { config: { photodna: { select: { kind: 'single', field: 'photo' } } } },
  (req) => ({
    received: req.uploads?.file?.originalname,
    photodna: req.photodna,
  }),
);

// Same guard, another policy: a match reaches the handler, flagged (its file withheld).
// req.photodna says what matched, for your moderators: never echo it to the sender.
app.post('/chat/messages', { config: { photodna: { policy: 'flag' } } }, (req) => ({
  delivered: true,
  images: (req.uploads?.files ?? []).map((file) => file.originalname),
}));

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on http://127.0.0.1:${app.server.address().port}`);

// Ctrl-C / SIGTERM: stop taking requests (closing the guard with the server), stop the emulator.
async function shutdown() {
  await app.close();
  await emulator?.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
