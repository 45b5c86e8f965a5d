// koa-router: Koa + @koa/router with the Koa guard from 'photodna-guard/koa'.
// `guard.single('photo')` is a drop-in for @koa/multer's `upload.single('photo')`: it parses the
// upload, checks it, and only then runs the route; `ctx.file` is set as @koa/multer would, and
// `ctx.state.photodna` says what the check found.
import Router from '@koa/router';
import Koa from 'koa';
import { startEmulator } from 'photodna-guard/emulator';
import { photodnaGuard } from 'photodna-guard/koa';

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

const router = new Router();

router.post('/photos', guard.single('photo'), (ctx) => {
  // Only clean uploads get here: a match was already answered 422 INVALID_IMAGE, like an unreadable image.
  ctx.body = { received: ctx.file?.originalname, photodna: ctx.state.photodna };
});

// Same guard, another route and policy: a match reaches the handler, flagged.
router.post('/chat/messages', guard.route({ policy: 'flag' }).single('image'), (ctx) => {
  // A matched file is withheld from ctx.file; ctx.state.photodna says what matched, for your
  // moderators: never echo it to the sender, it would confirm the hash matched.
  ctx.body = { delivered: true, image: ctx.file?.originalname ?? null };
});

const app = new Koa();
app.use(router.routes()).use(router.allowedMethods());

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
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
