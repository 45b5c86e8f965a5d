import { z } from 'zod';
import { apiKeySchema, loggerSchema, refuseDroppedUrlParts } from './client/options.js';
import type { Listener } from './events.js';
import {
  cacheSchema,
  clientTuningSchema,
  matcherSchema,
  pdqOptionSchema,
  quarantineSchema,
  queueSchema,
  rateLimitSchema,
  reporterSchema,
} from './option-schemas.js';
import { functionOf as fn, parseWith } from './parse-options.js';
import { SHARP_NEEDED, sharpInstalled } from './pdq/load-sharp.js';
import { tooLongReportFields, tooLongText } from './report/field-limits.js';
import { limitsSchema, routeFields, usesQuarantine, type WithPolicy } from './route-options.js';
import { serviceLimitIssues } from './service-limits.js';
import type { PhotoDnaHasher, ReporterInfo } from './types.js';
import { SILENT_LOGGER } from './warnings.js';

// Named here so the declarations of `optionsSchema` import them from where they are defined, not
// through the root entry (whose declarations need `@types/express`; a `/fetch` user has none).
export type { RedisClientLike } from './client/redis-connection.js';
export type { QuarantineStore } from './quarantine/types.js';
export {
  applyRouteOverrides,
  type Limits,
  limitsSchema,
  type PolicyFunction,
  type PolicyOption,
  type RouteOverrides,
  routeOverridesSchema,
} from './route-options.js';

/**
 * The one schema of `photodnaGuard(options)`. Parsed once, in the factory: `GuardOptions` is
 * what users write (`z.input`), `GuardConfig` the resolved configuration (`z.output`). The
 * options a route may override are in route-options.ts, the composite options' schemas in
 * option-schemas.ts.
 */

export const optionsSchema = z
  .strictObject({
    /** The PhotoDNA subscription key; never logged. Defaults to env `PHOTODNA_API_KEY`; required unless `matcher` or `pdq` alone (no PhotoDNA) is given. */
    apiKey: apiKeySchema.optional(),
    /** The service's URL (point it at the emulator in tests), without a user name, password or query string (never sent; the key goes in `apiKey`). Defaults to env `PHOTODNA_BASE_URL`, else `https://api.microsoftmoderator.com`. */
    baseUrl: z
      .string()
      .url()
      .superRefine((url, ctx) => refuseDroppedUrlParts(ctx, url))
      .optional(),
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
        scan: fn<Listener<'scan'>>('a listener').optional(),
        /** A file matched a hash list; awaited before the response. Defaults to none. */
        match: fn<Listener<'match'>>('a listener').optional(),
        /** A matched file was durably stored. Defaults to none. */
        quarantine: fn<Listener<'quarantine'>>('a listener').optional(),
        /** A request was rejected for a file or its body. Defaults to none. */
        reject: fn<Listener<'reject'>>('a listener').optional(),
        /** An NCMEC report filed through `event.report()`, or its failure. Defaults to none. */
        report: fn<Listener<'report'>>('a listener').optional(),
        /** Service, configuration, store, hook and listener failures. Defaults to none (the first prints a warning). */
        error: fn<Listener<'error'>>('a listener').optional(),
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
    // Past what the Report endpoint accepts, every report with these defaults would be refused.
    for (const found of tooLongReportFields(options.reporter ?? {})) {
      ctx.addIssue({
        code: 'custom',
        path: ['reporter', found.field],
        message: tooLongText(found, 'it'),
      });
    }
    // Past what PhotoDNA accepts, the service would refuse every such file or call.
    if (checksWithPhotoDna(options)) {
      for (const { path, message } of serviceLimitIssues(options))
        ctx.addIssue({ code: 'custom', path, message });
    }
  });

/**
 * What `photodnaGuard(options)` takes. `Req` is the framework's request, which a `policy`
 * function receives: the Express entry uses Express's `Request`, the Koa entry Koa's `Context`.
 */
export type GuardOptions<Req = unknown> = WithPolicy<z.input<typeof optionsSchema>, Req>;
export type GuardConfig = z.output<typeof optionsSchema>;

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

/** Parses the guard's options; throws `InvalidOptionsError` naming each bad option path. */
export function parseGuardOptions(options: unknown): GuardConfig {
  return parseWith(optionsSchema, options ?? {}, 'photodnaGuard');
}
