import { z } from 'zod';
import { defaultMaxBufferedBytes } from './core/upload-budget.js';
import { InvalidOptionsError } from './errors.js';
import type { MatchEvent, RejectionBody } from './events.js';
import type { RouteConfig } from './options.js';
import { functionOf as fn, parseWith } from './parse-options.js';
import { SHARP_NEEDED, sharpInstalled } from './pdq/load-sharp.js';
import { serviceLimitIssues } from './service-limits.js';
import { timerMs } from './timer-ms.js';
import type { Policy } from './types.js';

/**
 * The options a route may set for itself (`guard.route(overrides)`), which are also the guard's
 * defaults for every route (`optionsSchema` in options.ts gives each its default): the policy
 * and its path rules, the fail mode, deadlines, hooks, what a rejection says, and the limits.
 */

const policyName = z.enum(['block', 'quarantine', 'flag']);

/**
 * A RegExp rule as a router matches paths: case-insensitive (Express and @koa/router route so by
 * default; policy.ts tests a case-sensitive twin where the router tells case apart) and without
 * the `g`/`y` flags, whose `lastIndex` would make `test()` answer differently on alternate
 * requests.
 */
const routerLikeRegExp = z
  .instanceof(RegExp)
  .transform((re) =>
    re.ignoreCase && !re.global && !re.sticky
      ? re
      : new RegExp(re.source, `${re.flags.replace(/[gyi]/g, '')}i`),
  );

/**
 * A path rule: `path` is a prefix that matches on a segment boundary, or a RegExp; both are
 * matched against the path the router routes on, comparing case as it does (policy.ts).
 */
const policyRule = z.strictObject({
  /** `'/chat'` covers `/chat` and `/chat/...` (not `/chatroom`); a RegExp is tested on the path. Required, no default. */
  path: z.union([z.string().startsWith('/'), routerLikeRegExp]),
  /** What a match on a covered path does. Required, no default. */
  policy: policyName,
});

/**
 * A size in bytes. multer and body-parser users write sizes as strings ('4mb'), which are not
 * read here: the message says what to write instead of zod's "expected number, received string".
 */
const BYTES_EXPECTED =
  "Expected a whole number of bytes, e.g. 4194304 or 4 * 1024 * 1024 for 4 MiB (a size such as '4mb' is not read)";

const bytes = () =>
  z
    .number({ error: BYTES_EXPECTED })
    .int({ error: BYTES_EXPECTED })
    .positive({ error: 'Expected at least 1 byte' });

export const limitsSchema = z.strictObject({
  /** Largest file in bytes; equal is allowed. Defaults to 4 MiB (4,194,304), PhotoDNA's maximum. */
  maxFileSize: bytes().default(4 * 1024 * 1024),
  /** Smallest width in pixels. Defaults to 160, PhotoDNA's minimum. */
  minWidth: z.number().int().nonnegative().default(160),
  /** Smallest height in pixels. Defaults to 160, PhotoDNA's minimum. */
  minHeight: z.number().int().nonnegative().default(160),
  /** Largest width x height (pixel-flood guard). Defaults to 100,000,000. */
  maxPixels: z.number().int().positive().default(100_000_000),
  /** Files per request (413 `LIMIT_EXCEEDED` past it). Defaults to 10. */
  maxFiles: z.number().int().positive().default(10),
  /** Text fields per request. Defaults to 100. */
  maxFields: z.number().int().nonnegative().default(100),
  /** Bytes per text field value. Defaults to 65,536. */
  maxFieldSize: bytes().default(64 * 1024),
  /** Bytes per field name. Defaults to 200. */
  maxFieldNameSize: bytes().default(200),
  /**
   * Deepest bracket nesting of a text field's name (`a[b][c]` is 2), which `req.body` turns into
   * nested objects. Defaults to 4.
   */
  maxFieldDepth: z.number().int().nonnegative().default(4),
  /**
   * Largest numeric index in a text field's name (`a[7]`): without it an 83-byte field named
   * `a[30000000]` builds a 30-million-element array in `req.body`. Defaults to 100.
   */
  maxArrayIndex: z.number().int().nonnegative().default(100),
  /** Parts (files + fields) per request. Defaults to 120. */
  maxParts: z.number().int().positive().default(120),
  /**
   * Bytes that the uploads the guards are reading or checking may hold in memory at once, across
   * every guard of the process: a body's bytes count as they arrive (no more than its other
   * limits let it keep), until the guard has decided; the request whose bytes take the total
   * past this is refused mid-body, 503 `SCAN_BUSY`, and keeps nothing counted (a request holding
   * every counted byte is never refused). A route with a smaller value refuses sooner. Behind a
   * host's parser (`scan()`), each file it saved to disk counts from the guard's read of it (the
   * request refused before the read past this); files it kept in memory are not counted.
   * Defaults to a quarter of the memory the process may use (its cgroup's limit, else the
   * machine's), at most 512 MiB.
   */
  maxBufferedBytes: bytes().default(defaultMaxBufferedBytes()),
  /**
   * Milliseconds an upload body may go without a byte while the guard reads it (nginx's
   * `client_body_timeout`): past it the guard ends the request as if its uploader had left (the
   * HTTP/1 connection closed, the HTTP/2 stream reset, a Web body cancelled; no answer but the
   * Web guards' 499 `Response`, no handler, no event, its bytes given back). A slow body whose
   * bytes keep coming is not ended, nor the wait for the check once the body was read. At most
   * 2,147,483,647 (about 24.8 days, a timer's longest). Defaults to 60,000.
   */
  bodyIdleMs: timerMs().default(60_000),
});

/** Decides per request; `Req` is the framework's request (Express `Request`, Koa `Context`). */
export type PolicyFunction<Req = unknown> = (req: Req) => Policy | Promise<Policy>;
export type PolicyOption<Req = unknown> =
  | Policy
  | PolicyFunction<Req>
  | Array<z.input<typeof policyRule>>;

/** Options a route may override (`guard.route(overrides)`). */
export const routeFields = {
  /** What a match does: 'block', 'quarantine', 'flag', `(req) => policy`, or path rules. Defaults to 'block'. */
  policy: z.union([
    policyName,
    fn<PolicyFunction>('a function (req) => policy'),
    z.array(policyRule, { error: 'Expected path rules [{ path, policy }]' }).min(1),
  ]),
  /** 'closed' rejects files that could not be checked; 'open' lets them through as unchecked. Defaults to 'closed'. */
  failMode: z.enum(['closed', 'open']),
  /** Budget in ms to decide one file: queue wait, attempts and retries together. Defaults to 30,000. */
  scanTimeoutMs: timerMs(),
  /** Called for every match and awaited before the response is sent (bounded by `hookTimeoutMs`). Defaults to none. */
  onMatch: fn<(event: MatchEvent) => void | Promise<void>>('a function (event) => void'),
  /** Longest wait in ms for `onMatch` and `match` listeners. Defaults to 10,000. */
  hookTimeoutMs: timerMs(),
  /**
   * What the uploader is told of a match under 'block' or 'quarantine'. 'disguised': exactly the
   * answer to an unreadable image (422 `INVALID_IMAGE`, same body and headers, byte for byte), so
   * the answer is no oracle for which images are on a hash list; 'explicit': 422
   * `UPLOAD_REJECTED` (for internal tools). Events and logs always say `UPLOAD_REJECTED`.
   * Defaults to 'disguised'.
   */
  matchAnswer: z.enum(['disguised', 'explicit']),
  /**
   * Under `failMode: 'open'`, also let a file through unchecked when the guard's own scan queue
   * is full (`SCAN_BUSY`). Without it, 'open' covers service outages only: a full queue (which
   * an uploader can cause) is always a 503. Defaults to `false`.
   */
  openOnBusy: z.boolean(),
  /**
   * Bytes after the image's end (PNG's IEND, GIF's trailer, JPEG's EOI, BMP's declared size):
   * 'strip' cuts them off before the file is checked, so the handler gets exactly the bytes
   * that were checked; 'reject' answers 422 `INVALID_IMAGE`; 'keep' checks and hands on the
   * whole file (PhotoDNA sees only the first image: a second file appended after it goes
   * unchecked). Motion photos (a video appended to a JPEG) lose their video under 'strip' and
   * are refused under 'reject'. Defaults to 'strip'.
   */
  trailingData: z.enum(['strip', 'reject', 'keep']),
  /**
   * Images that arrive in text fields (a `data:image/...;base64,` URL, raw image bytes in a
   * field, a file part with an empty filename): 'scan' checks each like a file (validated,
   * matched, policy applied; under 'flag' a matched value is removed from the body); 'reject'
   * answers 415 `UNSUPPORTED_MEDIA_TYPE`. Either way no image reaches the handler unchecked.
   * Defaults to 'scan'.
   */
  imageFields: z.enum(['scan', 'reject']),
  /**
   * What is done to every accepted image before it is checked, so that PhotoDNA (or the
   * matcher) sees exactly the bytes the handler gets, with nothing hidden beside the pixels.
   * 'none': the image as uploaded (after `trailingData`); 'metadata': lossless, without sharp:
   * metadata carriers are cut out (PNG text, EXIF, time and private chunks; JPEG APPn segments
   * but JFIF, ICC and Adobe, and comments; GIF comments and application extensions but
   * NETSCAPE2.0 looping; EXIF orientation is lost with EXIF); TIFF and BMP are handed on as
   * they are. 'reencode': decoded and re-encoded by sharp (an optional peer dependency: `npm
   * install sharp`) in the same format (BMP becomes PNG), EXIF orientation applied, all
   * metadata dropped, animations (GIF, APNG) reduced to their first frame. Defaults to 'none'.
   */
  sanitize: z.enum(['none', 'metadata', 'reencode']),
  /** Replaces the JSON body of a rejection (the status and decision stay). Defaults to `{ error: { code, message } }`. */
  rejectionBody: fn<(rejection: RejectionBody['error'] & { status: number }) => unknown>(
    'a function (rejection) => body',
  ),
  /**
   * Deferred scanning (needs `queue`): `true` or `{ when: 'always' }` accepts every valid file at
   * once (`req.photodna.status = 'pending'`, a `scanId` per file) and scans it from the queue;
   * `{ when: 'overflow' }` scans synchronously but queues the files the rate limiter has no room
   * for instead of answering 503 `SCAN_BUSY`. Defaults to `false`.
   */
  defer: z.union([
    z.boolean(),
    z.strictObject({
      /** `'always'`: every valid file is queued; `'overflow'`: only what the rate limiter has no room for. Required, no default. */
      when: z.enum(['always', 'overflow']),
    }),
  ]),
};

export const routeOverridesSchema = z.strictObject({
  /** What a match does on this route. Defaults to the guard's `policy`. */
  policy: routeFields.policy.optional(),
  /** Whether an unchecked file passes on this route. Defaults to the guard's `failMode`. */
  failMode: routeFields.failMode.optional(),
  /** Budget in ms to decide one file on this route. Defaults to the guard's `scanTimeoutMs`. */
  scanTimeoutMs: routeFields.scanTimeoutMs.optional(),
  /** Longest wait in ms for hooks on this route. Defaults to the guard's `hookTimeoutMs`. */
  hookTimeoutMs: routeFields.hookTimeoutMs.optional(),
  /** Called for every match on this route. Defaults to the guard's `onMatch`. */
  onMatch: routeFields.onMatch.optional(),
  /** Replaces the JSON body of this route's rejections. Defaults to the guard's `rejectionBody`. */
  rejectionBody: routeFields.rejectionBody.optional(),
  /** Deferred scanning on this route (needs the guard's `queue`). Defaults to the guard's `defer`. */
  defer: routeFields.defer.optional(),
  /** What the uploader is told of a match on this route. Defaults to the guard's `matchAnswer`. */
  matchAnswer: routeFields.matchAnswer.optional(),
  /** Whether a full queue passes files unchecked under 'open' on this route. Defaults to the guard's `openOnBusy`. */
  openOnBusy: routeFields.openOnBusy.optional(),
  /** Bytes after the image's end on this route. Defaults to the guard's `trailingData`. */
  trailingData: routeFields.trailingData.optional(),
  /** Images in text fields on this route. Defaults to the guard's `imageFields`. */
  imageFields: routeFields.imageFields.optional(),
  /** What is done to accepted images before the check on this route. Defaults to the guard's `sanitize`. */
  sanitize: routeFields.sanitize.optional(),
  /** Limits for this route, each merged over the guard's. Defaults to the guard's `limits`. */
  limits: limitsSchema.partial().optional(),
});

/** What `guard.route(overrides)` takes (`Req` as in `GuardOptions`). */
export type RouteOverrides<Req = unknown> = WithPolicy<z.input<typeof routeOverridesSchema>, Req>;
export type Limits = z.output<typeof limitsSchema>;

/** `T` with its `policy` function typed for the framework's request `Req`. */
export type WithPolicy<T extends { policy?: unknown }, Req> = unknown extends Req
  ? T
  : Omit<T, 'policy'> & {
      /** What a match does: `'block'`, `'quarantine'`, `'flag'`, `(req) => policy`, or path rules. Defaults to `'block'` (on a route: the guard's `policy`). */
      policy?: PolicyOption<Req>;
    };
export function usesQuarantine(policy: z.output<typeof routeFields.policy> | undefined): boolean {
  if (policy === 'quarantine') return true;
  return Array.isArray(policy) && policy.some((rule) => rule.policy === 'quarantine');
}

/**
 * Applies `guard.route(overrides)` to the guard's config. `checksWithPhotoDna`: the guard uses
 * PhotoDNA (no custom matcher), so limits past what the service accepts are refused.
 */
export function applyRouteOverrides(
  config: RouteConfig,
  overrides: unknown,
  hasQuarantine: boolean,
  checksWithPhotoDna: boolean,
  hasQueue: boolean,
): RouteConfig {
  const parsed = parseWith(routeOverridesSchema, overrides ?? {}, 'guard.route');
  if (parsed.defer !== undefined && parsed.defer !== false && !hasQueue) {
    throw new InvalidOptionsError("guard.route: option 'defer': needs the guard's 'queue' option", [
      'defer',
    ]);
  }
  const beyond = checksWithPhotoDna ? serviceLimitIssues({ limits: parsed.limits ?? {} }) : [];
  if (beyond.length > 0) {
    throw new InvalidOptionsError(
      `guard.route: ${beyond.map((i) => `option '${i.path.join('.')}': ${i.message}`).join('; ')}`,
      beyond.map((i) => i.path.join('.')),
    );
  }
  if (parsed.sanitize === 'reencode' && !sharpInstalled()) {
    throw new InvalidOptionsError(`guard.route: option 'sanitize': ${SHARP_NEEDED}`, ['sanitize']);
  }
  if (usesQuarantine(parsed.policy) && !hasQuarantine) {
    throw new InvalidOptionsError(
      "guard.route: option 'policy': 'quarantine' needs the guard's 'quarantine' option",
      ['policy'],
    );
  }
  const { limits, ...rest } = parsed;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  return { ...config, ...defined, limits: { ...config.limits, ...limits } };
}
