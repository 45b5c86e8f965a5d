// A Next.js App Router route handler (app/upload/route.js), as Remix actions, Bun and Deno
// handlers look too: a Web `Request` in, a `Response` out. `guard.check(request)` reads the
// multipart body with the guard's limits (never an unbounded `request.formData()`), and answers
// either the rejection to return or the scanned form.
import { startEmulator } from 'photodna-guard/emulator';
import { photodnaGuard } from 'photodna-guard/fetch';

// PhotoDNA: the service at PHOTODNA_BASE_URL (key from PHOTODNA_API_KEY) when it is set,
// otherwise a local emulator in this process. The emulator accepts any non-empty key.
export const emulator = process.env.PHOTODNA_BASE_URL
  ? undefined
  : await startEmulator({ port: 0 });
const photodna = emulator ? { apiKey: 'example-key', baseUrl: emulator.url } : {};

// One guard per process (module scope), shared by every request.
export const guard = photodnaGuard({ ...photodna, policy: 'block' });
guard.on('match', (event) => {
  // event.buffer holds the matched image (for event.report()): never log it. The file name
  // is the uploader's: JSON.stringify escapes line breaks that would forge a log line.
  console.log(
    `match: ${event.method} ${event.route} ${JSON.stringify(event.file.originalname)} ` +
      `ip=${event.ip} sha256=${event.file.sha256} tracking=${event.trackingId}`,
  );
});
guard.on('error', (event) =>
  console.error(`photodna-guard ${event.stage}: ${event.error.message}`),
);

/**
 * The uploader's address, which goes into events, quarantine records and NCMEC reports. A
 * `Request` has no socket: take the last X-Forwarded-For entry, the one your own proxy (or the
 * platform) appended. The first one is whatever the client sent, so anyone could name any
 * address. Behind more than one proxy of yours, count that many from the end.
 */
function clientIp(request) {
  return request.headers.get('x-forwarded-for')?.split(',').at(-1)?.trim() || undefined;
}

export async function POST(request) {
  const result = await guard.check(request, { ip: clientIp(request) });
  if (result.response) return result.response; // 4xx/503 with the JSON error body
  // result.formData: the text fields and the clean files, each a File of its sniffed type.
  const photo = result.formData?.get('photo');
  return Response.json({
    received:
      photo instanceof File ? { name: photo.name, type: photo.type, size: photo.size } : null,
    photodna: result.photodna,
  });
}
