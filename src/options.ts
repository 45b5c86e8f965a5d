import { isIP } from 'node:net';
import { z } from 'zod';
import { clientOptionsSchema } from './client/options.js';
import type { RedisClientLike } from './client/redis-connection.js';
import { InvalidOptionsError } from './errors.js';
import type { MatchEvent, RejectionBody } from './events.js';
import { parseWith } from './parse-options.js';
import { SHARP_NEEDED, sharpInstalled } from './pdq/load-sharp.js';
import { pdqMatcherSchema } from './pdq/matcher-options.js';
import { isQuarantineStore, type QuarantineStore } from './quarantine/types.js';
import type { ScanQueue } from './queue/types.js';
import { serviceLimitIssues } from './service-limits.js';
import type { Logger, Matcher, PhotoDnaHasher, Policy, ReporterInfo } from './types.js';
import { SILENT_LOGGER } from './warnings.js';

/**
 * The one schema of `photodnaGuard(options)`. Parsed once, in the factory: `GuardOptions` is
 * what users write (`z.input`), `GuardConfig` the resolved configuration (`z.output`).
 */

const fn = <T>(what: string) =>
  z.custom<T>((value) => typeof value === 'function', { message: `Expected ${what}` });

const policyName = z.enum(['block', 'quarantine', 'flag']);

/**
 * A RegExp rule as the router matches paths: case-insensitively (Express and @koa/router route
 * case-insensitively by default) and without the `g`/`y` flags, whose `lastIndex` would make
 * `test()` answer differently on alternate requests.
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
 * matched case-insensitively against the raw path the router sees (nothing decoded or resolved).
 */
const policyRule = z.strictObject({
  /** `'/chat'` covers `/chat` and `/chat/...` (not `/chatroom`); a RegExp is tested on the path. Required, no default. */
  path: z.union([z.string().startsWith('/'), routerLikeRegExp]),
  /** What a match on a covered path does. Required, no default. */
  policy: policyName,
});

export const limitsSchema = z.strictObject({
  /** Largest file in bytes; equal is allowed. Defaults to 4 MiB (4,194,304), PhotoDNA's maximum. */
  maxFileSize: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
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
  maxFieldSize: z
    .number()
    .int()
    .positive()
    .default(64 * 1024),
  /** Bytes per field name. Defaults to 200. */
  maxFieldNameSize: z.number().int().positive().default(200),
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
});

/** The client's own schemas, so the guard and `PhotoDnaClient` validate these options alike. */
const clientShape = clientOptionsSchema.shape;
const rateLimitSchema = clientShape.rateLimit;
const clientTuningSchema = z.strictObject({
  /** Connect / headers / body / whole-attempt timeouts in ms. Defaults to 5000 / 10000 / 10000 / 15000. */
  timeouts: clientShape.timeouts.optional(),
  /** Attempts, backoff base and cap, total budget. Defaults to 4 / 200 ms / 5000 ms / 30000 ms. */
  retry: clientShape.retry.optional(),
  /** Connections in the pool. Defaults to 10. */
  connections: clientShape.connections.optional(),
  /** Largest answer read, in bytes. Defaults to 1 MiB. */
  maxResponseBytes: clientShape.maxResponseBytes.optional(),
});

const cacheSchema = z.union([
  z.literal(false),
  z.strictObject({
    /**
     * Whose uploads a cached result answers. 'global': anyone's, so a hit (fast) tells an
     * uploader that someone uploaded the same bytes recently; 'uploader': only the same client
     * key's (`clientKey`, by default the IP), which closes that timing channel at the cost of
     * fewer hits. Defaults to 'global'.
     */
    scope: z.enum(['global', 'uploader']).default('global'),
    /** Entries kept. Defaults to 10,000. */
    max: z.number().int().positive().default(10_000),
    /** How long a clean result is reused, in ms. Defaults to one hour. */
    cleanTtlMs: z
      .number()
      .int()
      .nonnegative()
      .default(60 * 60 * 1000),
    /** How long a match is reused, in ms. Defaults to 24 hours. */
    matchTtlMs: z
      .number()
      .int()
      .nonnegative()
      .default(24 * 60 * 60 * 1000),
  }),
]);

const reporterSchema = z.strictObject({
  /** Your organisation, as NCMEC knows it (`OrgName`). Defaults to none: required by `report()`. */
  orgName: z.string().min(1).optional(),
  /** Who files the report (`ReporterName`). Defaults to none: required by `report()`. */
  reporterName: z.string().min(1).optional(),
  /** Where NCMEC answers (`ReporterEmail`). Defaults to none: required by `report()`. */
  reporterEmail: z.string().email().optional(),
  /** NCMEC CyberTipline user, sent as `x-usr`; never logged. Defaults to none: required by `report()`. */
  ncmecUser: z.string().min(1).optional(),
  /** NCMEC CyberTipline password, sent as `x-pwd`; never logged. Defaults to none: required by `report()`. */
  ncmecPassword: z.string().min(1).optional(),
  /** Route reports to NCMEC's test endpoint (`IsTest`). Defaults to `false`. */
  isTest: z.boolean().optional(),
  /** `ReporteeName` (the uploader's account). Defaults to none (an empty name). */
  reporteeName: z.string().optional(),
  /** `ReporteeIPAddress`: the uploader's IP to report instead of the recorded one; must be an IP address. Defaults to the recorded address when it is a valid IP. */
  reporteeIpAddress: z
    .string()
    .refine((value) => isIP(value) !== 0, 'expected an IP address')
    .optional(),
  /** Free text sent as `additionalInfo` metadata. Defaults to none. */
  additionalInfo: z.string().optional(),
  /** Whether the content was publicly available (`publiclyAvailable` metadata). Defaults to `false`. */
  publiclyAvailable: z.boolean().optional(),
});

const quarantineSchema = z.union([
  z.strictObject({
    /** Directory of the file-system store; created 0700 (a looser one is made 0700, with a warning). Required, no default. */
    dir: z.string().min(1),
    /** Days evidence is kept. Defaults to 365. */
    preserveDays: z.number().positive().default(365),
  }),
  z.custom<QuarantineStore>(isQuarantineStore, {
    message: 'Expected { dir, preserveDays? } or a quarantine store object',
  }),
]);

const loggerSchema = z.custom<Logger>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    ['debug', 'info', 'warn', 'error'].every(
      (k) => typeof (v as Record<string, unknown>)[k] === 'function',
    ),
  { message: 'Expected a pino-compatible logger with debug, info, warn and error methods' },
);

const pdqOptionSchema = pdqMatcherSchema.extend({
  /** How PDQ joins PhotoDNA. Defaults to 'both' with a key or custom matcher, else 'only'. */
  mode: z.enum(['both', 'fallback', 'only']).optional(),
});

const matcherSchema = z.custom<Matcher>(
  (v) => typeof v === 'object' && v !== null && typeof (v as Matcher).match === 'function',
  { message: 'Expected an object with a match(file) method' },
);

/** Decides per request; `Req` is the framework's request (Express `Request`, Koa `Context`). */
export type PolicyFunction<Req = unknown> = (req: Req) => Policy | Promise<Policy>;
export type PolicyOption<Req = unknown> =
  | Policy
  | PolicyFunction<Req>
  | Array<z.input<typeof policyRule>>;

/** Options a route may override (`guard.route(overrides)`). */
const routeFields = {
  /** What a match does: 'block', 'quarantine', 'flag', `(req) => policy`, or path rules. Defaults to 'block'. */
  policy: z.union([
    policyName,
    fn<PolicyFunction>('a function (req) => policy'),
    z.array(policyRule, { error: 'Expected path rules [{ path, policy }]' }).min(1),
  ]),
  /** 'closed' rejects files that could not be checked; 'open' lets them through as unchecked. Defaults to 'closed'. */
  failMode: z.enum(['closed', 'open']),
  /** Budget in ms to decide one file: queue wait, attempts and retries together. Defaults to 30,000. */
  scanTimeoutMs: z.number().int().positive(),
  /** Called for every match and awaited before the response is sent (bounded by `hookTimeoutMs`). Defaults to none. */
  onMatch: fn<(event: MatchEvent) => void | Promise<void>>('a function (event) => void'),
  /** Longest wait in ms for `onMatch` and `match` listeners. Defaults to 10,000. */
  hookTimeoutMs: z.number().int().positive(),
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

const queueSchema = z.union([
  z
    .strictObject({
      /** The embedded queue's directory (SQLite + private byte copies, 0700); give this or `redis`. Defaults to none. */
      dir: z.string().min(1).optional(),
      /** BullMQ's Redis: a `redis://` URL or an ioredis client; give this or `dir`. Defaults to none. */
      redis: z
        .union([
          z.string().regex(/^rediss?:\/\//i, { error: 'Expected a redis:// or rediss:// URL' }),
          z.custom<RedisClientLike>(
            (v) =>
              typeof v === 'object' &&
              v !== null &&
              typeof (v as RedisClientLike).eval === 'function',
            { error: 'Expected an ioredis client or a redis:// URL' },
          ),
        ])
        .optional(),
      /** With `redis`: the BullMQ queue name. Defaults to 'photodna-guard-scan'. */
      name: z.string().min(1).optional(),
      /** Days a finished job is kept. Defaults to 7. */
      keepDoneDays: z.number().positive().optional(),
      /** With `redis`: a running job's lock in ms (a dead worker's job runs again after it). Defaults to 30,000. */
      lockMs: z.number().int().positive().optional(),
    })
    .superRefine((q, ctx) => {
      if ((q.dir === undefined) === (q.redis === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'Give { dir } (embedded) or { redis } (BullMQ)' });
      } else if (q.dir !== undefined && (q.name !== undefined || q.lockMs !== undefined)) {
        ctx.addIssue({ code: 'custom', message: "'name' and 'lockMs' go with { redis } only" });
      }
    }),
  z.custom<ScanQueue>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as ScanQueue).enqueue === 'function' &&
      typeof (v as ScanQueue).depth === 'function',
    { error: 'Expected { dir }, { redis } or an opened scan queue' },
  ),
]);

export const optionsSchema = z
  .strictObject({
    /** The PhotoDNA subscription key; never logged. Defaults to env `PHOTODNA_API_KEY`; required unless `matcher` is given. */
    apiKey: z.string().min(1).optional(),
    /** The service's URL (point it at the emulator in tests). Defaults to env `PHOTODNA_BASE_URL`, else `https://api.microsoftmoderator.com`. */
    baseUrl: z.string().url().optional(),
    /** Picks the Match path and the default rate (v2: 5/s, v1: 10/s). Defaults to `'v2'`. */
    apiVersion: z.enum(['v1', 'v2']).default('v2'),
    /** Sent as Match's `enhance` query parameter. Defaults to `false`. */
    enhance: z.boolean().default(false),
    /** Sent as `Enable-Evaluation` (adds adult/racy scores): `'always'` or `'afterinitialquota'`. Defaults to none. */
    evaluation: z.enum(['always', 'afterinitialquota']).optional(),
    /** What a match does: `'block'`, `'quarantine'`, `'flag'`, `(req) => policy`, or path rules. Defaults to `'block'`. */
    policy: routeFields.policy.default('block'),
    /** `'closed'` rejects files that could not be checked (503); `'open'` lets them through as unchecked. Defaults to `'closed'`. */
    failMode: routeFields.failMode.default('closed'),
    /** Where matched files go under `'quarantine'`: `{ dir, preserveDays? }` or a store object. Defaults to none. */
    quarantine: quarantineSchema.optional(),
    /** Size, dimension and count limits, all finite. Defaults to PhotoDNA's own (4 MiB, 160x160) and small counts. */
    limits: limitsSchema.prefault({}),
    /** Calls per second, queue bound and an optional Redis for a cluster-wide limit. Defaults to `{ perSecond: 5 (v2) / 10 (v1), maxQueue: 100 }`. */
    rateLimit: rateLimitSchema,
    /** Tuning of the PhotoDNA client the guard creates (timeouts, retries, pool). Defaults to the client's defaults. */
    client: clientTuningSchema.optional(),
    /** Budget in ms to decide one file: queue wait, attempts and retries together. Defaults to 30,000. */
    scanTimeoutMs: routeFields.scanTimeoutMs.default(30_000),
    /** Longest wait in ms for `onMatch`, `match` listeners and a policy function. Defaults to 10,000. */
    hookTimeoutMs: routeFields.hookTimeoutMs.default(10_000),
    /** Results keyed by SHA-256, so a re-upload costs no call; `false` turns it off. Defaults to `{ max: 10000, cleanTtlMs: 1 h, matchTtlMs: 24 h }`. */
    cache: cacheSchema.prefault({}),
    /** Defaults for `event.report()` (NCMEC reporter details). Defaults to none. */
    reporter: reporterSchema.optional(),
    /** A pino-compatible logger; `false` silences the setup warnings too. Defaults to none: setup faults then print one warning each (`process.emitWarning`). */
    logger: z.union([z.literal(false).transform(() => SILENT_LOGGER), loggerSchema]).optional(),
    /** Called for every match and awaited before the response is sent (bounded by `hookTimeoutMs`). Defaults to none. */
    onMatch: routeFields.onMatch.optional(),
    /** Replaces the JSON body of a rejection (the status and decision stay). Defaults to `{ error: { code, message } }`. */
    rejectionBody: routeFields.rejectionBody.optional(),
    /** What the uploader is told of a match: `'disguised'` (exactly like 422 `INVALID_IMAGE`) or `'explicit'` (422 `UPLOAD_REJECTED`). Defaults to `'disguised'`. */
    matchAnswer: routeFields.matchAnswer.default('disguised'),
    /** Under `failMode: 'open'`, also pass files unchecked when the guard's own queue is full. Defaults to `false`. */
    openOnBusy: routeFields.openOnBusy.default(false),
    /** Bytes after the image's end: `'strip'`, `'reject'` or `'keep'`. Defaults to `'strip'`. */
    trailingData: routeFields.trailingData.default('strip'),
    /** Images in text fields (data: URLs, raw bytes, empty-filename parts): `'scan'` or `'reject'`. Defaults to `'scan'`. */
    imageFields: routeFields.imageFields.default('scan'),
    /** Every accepted image made exactly what is checked and handed on: `'none'`, `'metadata'` (lossless metadata stripping) or `'reencode'` (decoded and re-encoded by sharp). Defaults to `'none'`. */
    sanitize: routeFields.sanitize.default('none'),
    /**
     * The uploader a request belongs to, for `fairShare` and `cache.scope: 'uploader'`: gets
     * Express's `req` (Koa: `ctx`). Defaults to the uploader's IP address.
     */
    clientKey: fn<(req: unknown) => string>('a function (req) => string').optional(),
    /**
     * Each uploader's share of the scan queue: at most `maxPerClient` files of one client key
     * wait for or hold a PhotoDNA call at once; more answer 503 `SCAN_BUSY`. `false` turns it
     * off. Defaults to `{ maxPerClient: 20 }`.
     */
    fairShare: z
      .union([
        z.literal(false),
        z.strictObject({
          /** Files of one client key waiting for or holding a call at once. Defaults to 20. */
          maxPerClient: z.number().int().positive().default(20),
        }),
      ])
      .prefault({}),
    /** Another hash-matching back end `{ match(request) }` (lifts PhotoDNA's own limits). Defaults to the PhotoDNA client. */
    matcher: matcherSchema.optional(),
    /** Deferred scanning (needs `queue`): `true`, `{ when: 'always' }` or `{ when: 'overflow' }`. Defaults to `false`. */
    defer: routeFields.defer.default(false),
    /**
     * The durable queue of deferred scans: `{ dir }` (embedded, one process), `{ redis }`
     * (BullMQ; run `photodna-guard worker` processes) or an opened queue. With it, files that
     * pass unchecked under `failMode: 'open'` are queued and scanned later. Defaults to none.
     */
    queue: queueSchema.optional(),
    /**
     * Run the queue's worker inside this process (with this guard's matcher, rate limit, store,
     * events and `onMatch`). Defaults to `true` for `{ dir }`, `false` for `{ redis }` and an
     * opened queue.
     */
    queueWorker: z
      .union([
        z.boolean(),
        z.strictObject({
          /** Jobs run at once by this process's worker. Required, no default. */
          concurrency: z.number().int().positive().max(256),
        }),
      ])
      .optional(),
    /**
     * The organisation's own PhotoDNA hash function (licensed separately from Microsoft; never
     * shipped here). With it, files are hashed locally and checked through MatchHash, up to five
     * per call, so one key checks five times as many new images per second. Defaults to none
     * (one Match call per file, with the image bytes).
     */
    hasher: fn<PhotoDnaHasher>(
      'a function (bytes, { mimetype, width, height, signal }) => Promise<base64 PhotoDNA hash>',
    ).optional(),
    /**
     * With `hasher`: how long (ms) the first hash of a MatchHash batch waits for others before it
     * asks for a rate-limiter slot (a batch leaves at once when five are waiting, and keeps
     * filling while it waits for a slot). 0 to 100. Defaults to 5.
     */
    batchWindowMs: z.int().min(0).max(100).default(5),
    /**
     * PDQ hash lists checked here, without a network: `createPdqMatcher` options (`lists`,
     * `allowLists`, `threshold`, `minQuality`, ...) plus `mode`. `'both'`: PhotoDNA (or the custom
     * `matcher`) and PDQ check every file, a match from either counts; `'fallback'`: PDQ checks
     * only the files PhotoDNA could not; `'only'`: PDQ alone, no PhotoDNA key needed. `mode`
     * defaults to `'both'` when a key or a custom `matcher` is configured, else `'only'`.
     * Defaults to none.
     */
    pdq: pdqOptionSchema.optional(),
    /** Event listeners, as a shortcut for `guard.on(...)`. Defaults to none. */
    on: z
      .strictObject({
        /** Every file checked (or that could not be). Defaults to none. */
        scan: fn<(e: never) => void>('a listener').optional(),
        /** A file matched a hash list; awaited before the response. Defaults to none. */
        match: fn<(e: never) => void>('a listener').optional(),
        /** A matched file was durably stored. Defaults to none. */
        quarantine: fn<(e: never) => void>('a listener').optional(),
        /** A request was rejected for a file or its body. Defaults to none. */
        reject: fn<(e: never) => void>('a listener').optional(),
        /** Service, configuration, store, hook and listener failures. Defaults to none (the first prints a warning). */
        error: fn<(e: never) => void>('a listener').optional(),
      })
      .optional(),
  })
  .superRefine((options, ctx) => {
    if (options.defer !== false && !options.queue) {
      ctx.addIssue({
        code: 'custom',
        path: ['queue'],
        message: "Required when 'defer' is set: give { dir } or { redis }",
      });
    }
    if (options.pdq?.mode === 'only' && (options.hasher || options.matcher)) {
      ctx.addIssue({
        code: 'custom',
        path: ['pdq', 'mode'],
        message: "'only' runs PDQ alone: drop 'hasher' / 'matcher', or choose 'both' or 'fallback'",
      });
    }
    if (options.hasher && options.matcher) {
      ctx.addIssue({
        code: 'custom',
        path: ['hasher'],
        message:
          "A custom 'matcher' replaces PhotoDNA, so 'hasher' (PhotoDNA via MatchHash) has no use with it",
      });
    }
    if (options.sanitize === 'reencode' && !sharpInstalled()) {
      ctx.addIssue({ code: 'custom', path: ['sanitize'], message: SHARP_NEEDED });
    }
    if (usesQuarantine(options.policy) && !options.quarantine) {
      ctx.addIssue({
        code: 'custom',
        path: ['quarantine'],
        message: "Required when a policy can be 'quarantine': give { dir } or a store",
      });
    }
    // Past what PhotoDNA accepts, the service would refuse every such file or call.
    if (checksWithPhotoDna(options)) {
      for (const { path, message } of serviceLimitIssues(options))
        ctx.addIssue({ code: 'custom', path, message });
    }
  });

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

/**
 * What `photodnaGuard(options)` takes. `Req` is the framework's request, which a `policy`
 * function receives: the Express entry uses Express's `Request`, the Koa entry Koa's `Context`.
 */
export type GuardOptions<Req = unknown> = WithPolicy<z.input<typeof optionsSchema>, Req>;
export type GuardConfig = z.output<typeof optionsSchema>;
export type Limits = z.output<typeof limitsSchema>;
/** What `guard.route(overrides)` takes (`Req` as in `GuardOptions`). */
export type RouteOverrides<Req = unknown> = WithPolicy<z.input<typeof routeOverridesSchema>, Req>;

/** `T` with its `policy` function typed for the framework's request `Req`. */
type WithPolicy<T extends { policy?: unknown }, Req> = unknown extends Req
  ? T
  : Omit<T, 'policy'> & {
      /** What a match does: `'block'`, `'quarantine'`, `'flag'`, `(req) => policy`, or path rules. Defaults to `'block'` (on a route: the guard's `policy`). */
      policy?: PolicyOption<Req>;
    };
export type ReporterDefaults = Partial<ReporterInfo>;

/** What one route runs with: the guard's config with a route's overrides applied. */
export type RouteConfig = Pick<
  GuardConfig,
  | 'policy'
  | 'failMode'
  | 'scanTimeoutMs'
  | 'hookTimeoutMs'
  | 'onMatch'
  | 'rejectionBody'
  | 'matchAnswer'
  | 'openOnBusy'
  | 'trailingData'
  | 'imageFields'
  | 'sanitize'
  | 'limits'
  | 'defer'
>;

/** Whether files go to PhotoDNA (no custom `matcher`, and not PDQ alone), so its limits apply. */
export function checksWithPhotoDna(options: {
  matcher?: unknown;
  apiKey?: string | undefined;
  pdq?: { mode?: string | undefined } | undefined;
}): boolean {
  if (options.matcher) return false;
  if (!options.pdq) return true;
  const mode =
    options.pdq.mode ?? (options.apiKey || process.env.PHOTODNA_API_KEY ? 'both' : 'only');
  return mode !== 'only';
}

function usesQuarantine(policy: z.output<typeof routeFields.policy> | undefined): boolean {
  if (policy === 'quarantine') return true;
  return Array.isArray(policy) && policy.some((rule) => rule.policy === 'quarantine');
}

/** Parses the guard's options; throws `InvalidOptionsError` naming each bad option path. */
export function parseGuardOptions(options: unknown): GuardConfig {
  return parseWith(optionsSchema, options ?? {}, 'photodnaGuard');
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
