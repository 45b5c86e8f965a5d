import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { readDimensions } from '../core/dimensions.js';
import { sniffImageType } from '../core/sniff.js';
import type { ImageMimeType } from '../types.js';
import { parseJson } from './body.js';
import { evaluate, parseEvaluationHeader } from './evaluation.js';
import { fetchImage } from './fetch-image.js';
import { sha256Hex } from './hash.js';
import type { KnownList } from './known.js';
import { type ApiAnswer, matchAnswer, testMatchFlag, trackingId } from './responses.js';

/** PhotoDNA's limits (SPEC section 2). */
export const MAX_IMAGE_BYTES = 4 * 1024 * 1024;
export const MIN_SIDE = 160;
/**
 * The emulator does not decode images; it stands in for the decoder's own bound with a pixel
 * cap, so that a pixel-flood header (huge dimensions, no data) answers 3208, "image size in
 * pixels is not within allowed range".
 */
export const MAX_PIXELS = 100_000_000;

const IMAGE_CONTENT_TYPES = new Set([
  'image/gif',
  'image/jpeg',
  'image/png',
  'image/bmp',
  'image/tiff',
]);

const urlFormSchema = z.looseObject({
  DataRepresentation: z.string().regex(/^url$/i),
  Value: z.string().min(1).max(8_192),
});

export interface ApiRequest {
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface MatchContext {
  known: KnownList;
  urlAllowList: readonly string[];
  /** Aborted when the emulator closes. */
  signal: AbortSignal;
}

/** Answers Match v1 and v2: raw image bytes, or the JSON URL form. */
export async function handleMatch(request: ApiRequest, context: MatchContext): Promise<ApiAnswer> {
  const enhance = request.query.getAll('enhance');
  if (enhance.length > 1 || (enhance[0] !== undefined && !/^(true|false)$/i.test(enhance[0]))) {
    return invalid('enhance must be true or false');
  }
  const evaluation = parseEvaluationHeader(request.headers['enable-evaluation']);
  if (!evaluation.ok) return invalid('Enable-Evaluation must be always or afterinitialquota');

  const media = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  let bytes: Buffer;
  if (IMAGE_CONTENT_TYPES.has(media)) {
    bytes = request.body;
  } else if (media === 'application/json') {
    const fetched = await imageFromUrlForm(request.body, context);
    if ('answer' in fetched) return fetched.answer;
    bytes = fetched.bytes;
  } else {
    return invalid(media ? `unsupported Content-Type ${media}` : 'missing Content-Type');
  }

  const checked = await checkImage(bytes);
  if ('answer' in checked) return checked.answer;

  const sha256 = sha256Hex(bytes);
  const exact = context.known.image(sha256);
  const known = exact
    ? { matchId: exact.matchId, distance: 0 }
    : await context.known.nearestImage(bytes, checked.type);
  const id = trackingId();
  return matchAnswer(3000, known ? [testMatchFlag(known.matchId, known.distance)] : [], {
    trackingId: id,
    evaluate: evaluation.mode ? evaluate(sha256, evaluation.mode, id) : null,
  });
}

/** 3002, 3206 or 3208 for bytes PhotoDNA would not hash; the sniffed type of a usable image. */
async function checkImage(bytes: Buffer): Promise<{ answer: ApiAnswer } | { type: ImageMimeType }> {
  if (bytes.length === 0) return { answer: invalid('the request has no image') };
  if (bytes.length > MAX_IMAGE_BYTES) {
    return {
      answer: matchAnswer(3208, [], {
        exception: `the image is larger than ${MAX_IMAGE_BYTES} bytes`,
      }),
    };
  }
  let size: { width: number; height: number };
  let type: ImageMimeType;
  try {
    type = await sniffImageType(bytes);
    size = readDimensions(bytes, type);
  } catch {
    return { answer: matchAnswer(3206) };
  }
  if (size.width < MIN_SIDE || size.height < MIN_SIDE || size.width * size.height > MAX_PIXELS) {
    return {
      answer: matchAnswer(3208, [], {
        exception: `the image is ${size.width}x${size.height} pixels`,
      }),
    };
  }
  return { type };
}

async function imageFromUrlForm(
  body: Buffer,
  context: MatchContext,
): Promise<{ bytes: Buffer } | { answer: ApiAnswer }> {
  const json = parseJson(body);
  const form = json.ok ? urlFormSchema.safeParse(json.value) : undefined;
  if (!form?.success) {
    return { answer: invalid('expected {"DataRepresentation":"URL","Value":"<image URL>"}') };
  }
  let url: URL;
  try {
    url = new URL(form.data.Value);
  } catch {
    return { answer: invalid('Value is not a URL') };
  }
  const fetched = await fetchImage(url, context.urlAllowList, MAX_IMAGE_BYTES, context.signal);
  if (fetched.ok) return { bytes: fetched.bytes };
  if (fetched.reason === 'too-large')
    return { answer: matchAnswer(3208, [], { exception: fetched.detail }) };
  return { answer: invalid(fetched.detail) };
}

function invalid(exception: string): ApiAnswer {
  return matchAnswer(3002, [], { exception });
}
