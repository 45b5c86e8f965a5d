import { z } from 'zod';
import { clientOptionsSchema } from './client/options.js';
import type { RedisClientLike } from './client/redis-connection.js';
import { InvalidOptionsError } from './errors.js';
import type { MatchEvent, RejectionBody } from './events.js';
import { parseWith } from './parse-options.js';
import { pdqMatcherSchema } from './pdq/matcher-options.js';
import { isQuarantineStore, type QuarantineStore } from './quarantine/types.js';
import type { ScanQueue } from './queue/types.js';
import type { Logger, Matcher, PhotoDnaHasher, Policy, ReporterInfo } from './types.js';

/**
 * The one schema of `photodnaGuard(options)`. Parsed once, in the factory: `GuardOptions` is
 * what users write (`z.input`), `GuardConfig` the resolved configuration (`z.output`).
 */

const fn = <T>(what: string) =>
  z.custom<T>((value) => typeof value === 'function', { message: `Expected ${what}` });

const policyName = z.enum(['block', 'quarantine', 'flag']);

/** A path rule: `path` is a prefix that matches on a segment boundary, or a RegExp. */
const policyRule = z.strictObject({
  path: z.union([z.string().startsWith('/'), z.instanceof(RegExp)]),
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
  reporteeIpAddress: z.string().optional(),
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
  /** Replaces the JSON body of a rejection (the status and decision stay). */
  rejectionBody: fn<(rejection: RejectionBody['error'] & { status: number }) => unknown>(
    'a function (rejection) => body',
  ),
  /**
   * Deferred scanning (needs `queue`): `true` or `{ when: 'always' }` accepts every valid file at
   * once (`req.photodna.status = 'pending'`, a `scanId` per file) and scans it from the queue;
   * `{ when: 'overflow' }` scans synchronously but queues the files the rate limiter has no room
   * for instead of answering 503 `SCAN_BUSY`. Defaults to `false`.
   */
  defer: z.union([z.boolean(), z.strictObject({ when: z.enum(['always', 'overflow']) })]),
};

const queueSchema = z.union([
  z.strictObject({
    /** The embedded queue's directory (SQLite + private byte copies, 0700). */
    dir: z.string().min(1),
    /** Days a finished job is kept. Defaults to 7. */
    keepDoneDays: z.number().positive().optional(),
  }),
  z.strictObject({
    /** BullMQ's Redis: a `redis://` URL or an ioredis client. */
    redis: z.union([
      z.string().regex(/^rediss?:\/\//i, { error: 'Expected a redis:// or rediss:// URL' }),
      z.custom<RedisClientLike>(
        (v) =>
          typeof v === 'object' && v !== null && typeof (v as RedisClientLike).eval === 'function',
        { error: 'Expected an ioredis client or a redis:// URL' },
      ),
    ]),
    /** The BullMQ queue name. Defaults to 'photodna-guard-scan'. */
    name: z.string().min(1).optional(),
    /** Days a finished job is kept. Defaults to 7. */
    keepDoneDays: z.number().positive().optional(),
    /** A running job's lock in ms (a dead worker's job runs again after it). Defaults to 30,000. */
    lockMs: z.number().int().positive().optional(),
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
    matcher: matcherSchema.optional(),
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
      .union([z.boolean(), z.strictObject({ concurrency: z.number().int().positive().max(256) })])
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
  defer: routeFields.defer.optional(),
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
  | 'limits'
  | 'defer'
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
  hasQueue = true,
): RouteConfig {
  const parsed = parseWith(routeOverridesSchema, overrides ?? {}, 'guard.route');
  if (parsed.defer !== undefined && parsed.defer !== false && !hasQueue) {
    throw new InvalidOptionsError("guard.route: option 'defer': needs the guard's 'queue' option", [
      'defer',
    ]);
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
