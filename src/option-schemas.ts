import { isIP } from 'node:net';
import { z } from 'zod';
import { clientOptionsSchema } from './client/options.js';
import { isRedisUrl, REDIS_URL_EXPECTED, type RedisClientLike } from './client/redis-connection.js';
import { pdqMatcherSchema } from './pdq/matcher-options.js';
import { MAX_PRESERVE_DAYS, PRESERVE_DAYS_RANGE } from './quarantine/preserve-days.js';
import { isQuarantineStore, type QuarantineStore } from './quarantine/types.js';
import { KEEP_DONE_DAYS_RANGE, MAX_KEEP_DONE_DAYS } from './queue/keep-done.js';
import type { ScanQueue } from './queue/types.js';
import { timerMs } from './timer-ms.js';
import type { Matcher } from './types.js';

/**
 * The schemas of the guard's composite options (client tuning, cache, reporter, quarantine,
 * logger, PDQ, matcher, queue), each with its defaults; `optionsSchema` (options.ts) puts them
 * together.
 */

/** The client's own schemas, so the guard and `PhotoDnaClient` validate these options alike. */
const clientShape = clientOptionsSchema.shape;
export const rateLimitSchema = clientShape.rateLimit;
export const clientTuningSchema = z.strictObject({
  /** Connect / headers / body / whole-attempt timeouts in ms. Defaults to 5000 / 10000 / 10000 / 15000. */
  timeouts: clientShape.timeouts.optional(),
  /** Attempts, backoff base and cap, total budget. Defaults to 4 / 200 ms / 5000 ms / 30000 ms. */
  retry: clientShape.retry.optional(),
  /** Connections in the pool. Defaults to 10. */
  connections: clientShape.connections.optional(),
  /** Largest answer read, in bytes. Defaults to 1 MiB. */
  maxResponseBytes: clientShape.maxResponseBytes.optional(),
});

export const cacheSchema = z.union([
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

export const reporterSchema = z.strictObject({
  /** Your organisation, as NCMEC knows it (`OrgName`), at most 1,000 characters. Defaults to none: required by `report()`. */
  orgName: z.string().min(1).optional(),
  /** Who files the report (`ReporterName`), at most 1,000 characters. Defaults to none: required by `report()`. */
  reporterName: z.string().min(1).optional(),
  /** Where NCMEC answers (`ReporterEmail`). Defaults to none: required by `report()`. */
  reporterEmail: z.string().email().optional(),
  /** NCMEC CyberTipline user, sent as `x-usr`; never logged. Defaults to none: required by `report()`. */
  ncmecUser: z.string().min(1).optional(),
  /** NCMEC CyberTipline password, sent as `x-pwd`; never logged. Defaults to none: required by `report()`. */
  ncmecPassword: z.string().min(1).optional(),
  /** Route reports to NCMEC's test endpoint (`IsTest`). Defaults to `false`. */
  isTest: z.boolean().optional(),
  /** `ReporteeName` (the uploader's account), at most 1,000 characters. Defaults to `'unknown'`. */
  reporteeName: z.string().optional(),
  /** `ReporteeIPAddress`: the uploader's IP to report instead of the recorded one; must be an IP address. Defaults to the recorded address when it is a valid IP. */
  reporteeIpAddress: z
    .string()
    .refine((value) => isIP(value) !== 0, 'expected an IP address')
    .optional(),
  /** Free text sent as `additionalInfo` metadata, at most 10,000 characters. Defaults to none. */
  additionalInfo: z.string().optional(),
  /** Whether the content was publicly available (`publiclyAvailable` metadata). Defaults to `false`. */
  publiclyAvailable: z.boolean().optional(),
});

export const quarantineSchema = z.union([
  z.strictObject({
    /** Directory of the file-system store; created 0700 (a looser one is made 0700, with a warning). Required, no default. */
    dir: z.string().min(1),
    /** Days evidence is kept, at most 36,500 (a hundred years). Defaults to 365. */
    preserveDays: z
      .number()
      .positive({ error: PRESERVE_DAYS_RANGE })
      .max(MAX_PRESERVE_DAYS, { error: PRESERVE_DAYS_RANGE })
      .default(365),
  }),
  z.custom<QuarantineStore>(isQuarantineStore, {
    message: 'Expected { dir, preserveDays? } or a quarantine store object',
  }),
]);

export const pdqOptionSchema = pdqMatcherSchema.extend({
  /** How PDQ joins PhotoDNA. Defaults to 'both' with a key or custom matcher, else 'only'. */
  mode: z.enum(['both', 'fallback', 'only']).optional(),
});

export const matcherSchema = z.custom<Matcher>(
  (v) => typeof v === 'object' && v !== null && typeof (v as Matcher).match === 'function',
  { message: 'Expected an object with a match(file) method' },
);

export const queueSchema = z.union([
  z
    .strictObject({
      /** The embedded queue's directory (SQLite + private byte copies, 0700); give this or `redis`. Defaults to none. */
      dir: z.string().min(1).optional(),
      /** BullMQ's Redis: a `redis://` URL or an ioredis client; give this or `dir`. Defaults to none. */
      redis: z
        .union([
          z.string().refine(isRedisUrl, { error: REDIS_URL_EXPECTED }),
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
      /** Days a finished job is kept, at most 3650 (with `redis`, in whole seconds, at least one). Defaults to 7. */
      keepDoneDays: z
        .number()
        .positive({ error: KEEP_DONE_DAYS_RANGE })
        .max(MAX_KEEP_DONE_DAYS, { error: KEEP_DONE_DAYS_RANGE })
        .optional(),
      /** With `redis`: a running job's lock in ms (a dead worker's job runs again after it). Defaults to 30,000. */
      lockMs: timerMs().optional(),
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
