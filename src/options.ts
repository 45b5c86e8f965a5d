import { isIP } from 'node:net';
import { z } from 'zod';
import { clientOptionsSchema } from './client/options.js';
import { InvalidOptionsError } from './errors.js';
import type { MatchEvent, RejectionBody } from './events.js';
import { parseWith } from './parse-options.js';
import { pdqMatcherSchema } from './pdq/matcher-options.js';
import { isQuarantineStore, type QuarantineStore } from './quarantine/types.js';
import type { Logger, Matcher, PhotoDnaHasher, Policy, ReporterInfo } from './types.js';

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
  path: z.union([z.string().startsWith('/'), routerLikeRegExp]),
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
  /** Files per request. Defaults to 10. */
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
  orgName: z.string().min(1).optional(),
  reporterName: z.string().min(1).optional(),
  reporterEmail: z.string().email().optional(),
  ncmecUser: z.string().min(1).optional(),
  ncmecPassword: z.string().min(1).optional(),
  isTest: z.boolean().optional(),
  reporteeName: z.string().optional(),
  /** The uploader's IP to report instead of the recorded one; must be an IP address. */
  reporteeIpAddress: z
    .string()
    .refine((value) => isIP(value) !== 0, 'expected an IP address')
    .optional(),
  additionalInfo: z.string().optional(),
  publiclyAvailable: z.boolean().optional(),
});

const quarantineSchema = z.union([
  z.strictObject({
    /** Directory of the file-system store; created 0700. */
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

export type PolicyFunction = (req: unknown) => Policy | Promise<Policy>;
export type PolicyOption = Policy | PolicyFunction | Array<z.input<typeof policyRule>>;

/** Options a route may override (`guard.route(overrides)`). */
const routeFields = {
  /** What a match does: 'block', 'quarantine', 'flag', `(req) => policy`, or path rules. Defaults to 'block'. */
  policy: z.union([
    policyName,
    fn<PolicyFunction>('a function (req) => policy'),
    z.array(policyRule).min(1),
  ]),
  /** 'closed' rejects files that could not be checked; 'open' lets them through as unchecked. Defaults to 'closed'. */
  failMode: z.enum(['closed', 'open']),
  /** Budget in ms to decide one file: queue wait, attempts and retries together. Defaults to 30,000. */
  scanTimeoutMs: z.number().int().positive(),
  /** Awaited before the response is sent (bounded by `hookTimeoutMs`). */
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
  /** Replaces the JSON body of a rejection (the status and decision stay). */
  rejectionBody: fn<(rejection: RejectionBody['error'] & { status: number }) => unknown>(
    'a function (rejection) => body',
  ),
};

const optionsSchema = z
  .strictObject({
    apiKey: z.string().min(1).optional(),
    baseUrl: z.string().url().optional(),
    apiVersion: z.enum(['v1', 'v2']).default('v2'),
    enhance: z.boolean().default(false),
    evaluation: z.enum(['always', 'afterinitialquota']).optional(),
    policy: routeFields.policy.default('block'),
    failMode: routeFields.failMode.default('closed'),
    quarantine: quarantineSchema.optional(),
    limits: limitsSchema.prefault({}),
    rateLimit: rateLimitSchema,
    /** Tuning of the PhotoDNA client the guard creates. */
    client: clientTuningSchema.optional(),
    scanTimeoutMs: routeFields.scanTimeoutMs.default(30_000),
    hookTimeoutMs: routeFields.hookTimeoutMs.default(10_000),
    cache: cacheSchema.prefault({}),
    reporter: reporterSchema.optional(),
    logger: loggerSchema.optional(),
    onMatch: routeFields.onMatch.optional(),
    rejectionBody: routeFields.rejectionBody.optional(),
    matchAnswer: routeFields.matchAnswer.default('disguised'),
    openOnBusy: routeFields.openOnBusy.default(false),
    trailingData: routeFields.trailingData.default('strip'),
    imageFields: routeFields.imageFields.default('scan'),
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
        z.strictObject({ maxPerClient: z.number().int().positive().default(20) }),
      ])
      .prefault({}),
    matcher: matcherSchema.optional(),
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
    /** Event listeners, as a shortcut for `guard.on(...)`. */
    on: z
      .strictObject({
        scan: fn<(e: never) => void>('a listener').optional(),
        match: fn<(e: never) => void>('a listener').optional(),
        quarantine: fn<(e: never) => void>('a listener').optional(),
        reject: fn<(e: never) => void>('a listener').optional(),
        error: fn<(e: never) => void>('a listener').optional(),
      })
      .optional(),
  })
  .superRefine((options, ctx) => {
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
    if (usesQuarantine(options.policy) && !options.quarantine) {
      ctx.addIssue({
        code: 'custom',
        path: ['quarantine'],
        message: "Required when a policy can be 'quarantine': give { dir } or a store",
      });
    }
  });

const routeOverridesSchema = z.strictObject({
  policy: routeFields.policy.optional(),
  failMode: routeFields.failMode.optional(),
  scanTimeoutMs: routeFields.scanTimeoutMs.optional(),
  hookTimeoutMs: routeFields.hookTimeoutMs.optional(),
  onMatch: routeFields.onMatch.optional(),
  rejectionBody: routeFields.rejectionBody.optional(),
  matchAnswer: routeFields.matchAnswer.optional(),
  openOnBusy: routeFields.openOnBusy.optional(),
  trailingData: routeFields.trailingData.optional(),
  imageFields: routeFields.imageFields.optional(),
  limits: limitsSchema.partial().optional(),
});

export type GuardOptions = z.input<typeof optionsSchema>;
export type GuardConfig = z.output<typeof optionsSchema>;
export type Limits = z.output<typeof limitsSchema>;
export type RouteOverrides = z.input<typeof routeOverridesSchema>;
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
  | 'limits'
>;

function usesQuarantine(policy: z.output<typeof routeFields.policy> | undefined): boolean {
  if (policy === 'quarantine') return true;
  return Array.isArray(policy) && policy.some((rule) => rule.policy === 'quarantine');
}

/** Parses the guard's options; throws `InvalidOptionsError` naming each bad option path. */
export function parseGuardOptions(options: unknown): GuardConfig {
  return parseWith(optionsSchema, options ?? {}, 'photodnaGuard');
}

/** Applies `guard.route(overrides)` to the guard's config. */
export function applyRouteOverrides(
  config: RouteConfig,
  overrides: unknown,
  hasQuarantine: boolean,
): RouteConfig {
  const parsed = parseWith(routeOverridesSchema, overrides ?? {}, 'guard.route');
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
