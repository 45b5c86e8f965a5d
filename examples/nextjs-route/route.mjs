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
guard.on('error', (event) =>
  console.error(`photodna-guard ${event.stage}: ${event.error.message}`),
);

export async function POST(request) {
  // Next.js does not tell the address; behind your proxy, take it from its header.
  const ip = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim();
  const result = await guard.check(request, { ip });
  if (result.response) return result.response; // 4xx/503 with the JSON error body
  // result.formData: the text fields and the clean files, each a File of its sniffed type.
  const photo = result.formData?.get('photo');
  return Response.json({
    received:
      photo instanceof File ? { name: photo.name, type: photo.type, size: photo.size } : null,
    photodna: result.photodna,
  });
}
