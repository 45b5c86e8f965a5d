/**
 * The route's `sanitize` step between validation and the check: the validated bytes are made
 * what the handler gets ('metadata': blocks cut out losslessly; 'reencode': decoded and encoded
 * again by sharp), then validated again, so the matcher, the cache, the events and the handler
 * all see the same bytes and the same facts. The bytes as validated before are kept on the
 * upload as the quarantine's evidence.
 */
import { GuardError } from '../errors.js';
import { UploadAborted } from '../multipart/parser.js';
import type { RouteConfig } from '../options.js';
import type { FileFacts, ImageMimeType } from '../types.js';
import { type BudgetWait, decodingPixels } from './pixel-budget.js';
import { reencode } from './reencode.js';
import type { RequestContext } from './request-context.js';
import { stripMetadata } from './strip-metadata.js';
import type { BufferedBytes } from './upload-budget.js';
import { type UploadedFile, validateFile } from './validate-file.js';
import type { Verdict } from './verdict.js';

/** The upload as it was validated before the sanitize step changed it. */
export interface Original {
  file: FileFacts;
  bytes: Buffer;
  /** The step that changed it. */
  sanitize: 'metadata' | 'reencode';
}

/**
 * Sanitizes the validated uploads of one request at once (their re-encodes run side by side in
 * sharp's thread pool, as the process's pixel budget allows): afterwards each `uploads[i].bytes`
 * are the bytes to check and hand on, `facts[i]` their facts, and `uploads[i].original` (when the
 * step changed anything) the upload as first validated. Each changed copy is held beside the
 * upload until the decision, so it counts in the request's `counted` bytes from when it is made
 * (the one that takes the process past `maxBufferedBytes` refuses the request, 503 `SCAN_BUSY`).
 * Resolves to the rejection of the first file that failed, if one did.
 */
export async function sanitizeUploads(
  uploads: UploadedFile[],
  facts: FileFacts[],
  route: RouteConfig,
  ctx: Pick<RequestContext, 'signal'>,
  counted: Pick<BufferedBytes, 'addCopy'>,
): Promise<Verdict | undefined> {
  // A re-encode waits its turn for pixels (`pixel-budget.ts`): no longer than the route's scan
  // deadline (then 503 SCAN_BUSY), and not for an uploader who left.
  const wait: BudgetWait | undefined =
    route.sanitize === 'reencode'
      ? {
          signal: ctx.signal,
          maxWaitMs: route.scanTimeoutMs,
          tooLong: () =>
            new GuardError('SCAN_BUSY', {
              reason: 'queue-full',
              detail: `other uploads' re-encodes held the pixel budget for scanTimeoutMs (${route.scanTimeoutMs} ms)`,
              retryAfter: 2,
            }),
        }
      : undefined;
  const settled = await Promise.allSettled(
    uploads.map((upload, i) => sanitizeUpload(upload, facts[i] as FileFacts, route, wait, counted)),
  );
  for (const [i, outcome] of settled.entries()) {
    const upload = uploads[i] as UploadedFile;
    if (outcome.status === 'fulfilled') {
      facts[i] = outcome.value;
      continue;
    }
    const error = outcome.reason;
    if (error instanceof UploadAborted) return { kind: 'aborted' };
    return {
      kind: 'reject',
      error:
        error instanceof GuardError ? error : new GuardError('INVALID_IMAGE', { cause: error }),
      file: { field: upload.field, originalname: upload.originalname },
    };
  }
  return undefined;
}

/** One validated upload made what is checked, and validated again; throws a `GuardError`. */
async function sanitizeUpload(
  upload: UploadedFile,
  facts: FileFacts,
  route: RouteConfig,
  wait: BudgetWait | undefined,
  counted: Pick<BufferedBytes, 'addCopy'>,
): Promise<FileFacts> {
  const bytes = upload.bytes;
  const clean =
    route.sanitize === 'metadata'
      ? { bytes: stripMetadata(bytes, facts.mimetype), mimetype: facts.mimetype }
      : await decodingPixels.run(
          facts.width * facts.height,
          // The header's own pixel count, which the budget was charged: a file whose pixels
          // outgrow its header (a GIF frame larger than its screen) is refused, not decoded.
          () => reencode(bytes, facts.mimetype, facts.width * facts.height),
          wait,
        );
  if (clean.bytes === bytes) return facts;
  counted.addCopy(clean.bytes.length, 'a sanitized file');
  upload.original = { file: facts, bytes, sanitize: route.sanitize as Original['sanitize'] };
  upload.bytes = clean.bytes;
  if (clean.mimetype !== facts.mimetype) {
    upload.originalname = withExtensionOf(upload.originalname, clean.mimetype);
  }
  try {
    return await validateFile(upload, route.limits, 'reject');
  } catch (error) {
    const cause = error instanceof GuardError ? error : undefined;
    throw new GuardError(cause?.code ?? 'INVALID_IMAGE', {
      detail: `the sanitized image (sanitize '${route.sanitize}'): ${cause?.detail ?? (error as Error).message}`,
      cause: error,
    });
  }
}

const EXTENSIONS: Record<ImageMimeType, string> = {
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'image/bmp': '.bmp',
  'image/tiff': '.tif',
};

/** `photo.bmp` → `photo.png`: the name's extension (added when it has none) follows the type. */
function withExtensionOf(name: string, type: ImageMimeType): string {
  if (name === '') return name;
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? name.slice(0, dot) : name;
  return `${base}${EXTENSIONS[type]}`;
}
