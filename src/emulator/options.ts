import { z } from 'zod';
import { InvalidOptionsError } from '../errors.js';
import { errorRateSchema, faultSchema, latencySchema } from './fault-schema.js';
import { isHashValue } from './hash.js';
import type { EmulatorOptions } from './types.js';

/** Squared Euclidean distance at or under which MatchHash reports a match, unless configured. */
export const DEFAULT_HASH_THRESHOLD = 40_000;

/** PDQ distance and quality of the emulator's edited-copy matching (Meta's recommendations). */
export const DEFAULT_PDQ_THRESHOLD = 31;
export const DEFAULT_PDQ_MIN_QUALITY = 50;

/** Default accepted requests per key per second, by API version (SPEC section 2). */
export const DEFAULT_RATE_LIMITS = { v1: 10, v2: 5 } as const;

const bytesSchema = z.custom<Uint8Array<ArrayBufferLike>>(
  (value) => value instanceof Uint8Array,
  'expected a Buffer or a file path',
);

const knownSchema = z.strictObject({
  images: z
    .array(z.union([bytesSchema, z.string().min(1)]))
    .max(100_000)
    .optional(),
  sha256: z
    .array(z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits'))
    .max(1_000_000)
    .optional(),
  hashes: z
    .array(z.string().refine(isHashValue, 'expected base64 of 144 bytes'))
    .max(1_000_000)
    .optional(),
});

const optionsSchema = z.strictObject({
  port: z.int().min(0).max(65_535).default(0),
  host: z.string().min(1).default('127.0.0.1'),
  apiKey: z.string().min(1).optional(),
  known: knownSchema.default({}),
  includeTestImages: z.boolean().default(true),
  rateLimit: z
    .union([z.literal(false), z.strictObject({ perSecond: z.int().min(1).max(100_000) })])
    .optional(),
  latencyMs: latencySchema.default(0),
  faults: z.array(faultSchema).max(100_000).default([]),
  errorRate: errorRateSchema.optional(),
  urlAllowList: z.array(z.string().min(1)).max(1_000).default([]),
  hashThreshold: z.number().min(0).max(Number.MAX_SAFE_INTEGER).default(DEFAULT_HASH_THRESHOLD),
  pdq: z
    .union([
      z.boolean(),
      z.strictObject({
        threshold: z.int().min(0).max(256).optional(),
        minQuality: z.int().min(0).max(100).optional(),
      }),
    ])
    .default(false)
    .transform((value) =>
      value === false
        ? false
        : {
            threshold: (value === true ? undefined : value.threshold) ?? DEFAULT_PDQ_THRESHOLD,
            minQuality: (value === true ? undefined : value.minQuality) ?? DEFAULT_PDQ_MIN_QUALITY,
          },
    ),
});

export type ResolvedOptions = Omit<z.output<typeof optionsSchema>, 'rateLimit'> & {
  /** Per-second limits by version, or `false`. */
  rateLimit: { v1: number; v2: number } | false;
};

/** Validates `startEmulator` options once; throws `InvalidOptionsError` naming the bad paths. */
export function resolveOptions(options: EmulatorOptions = {}): ResolvedOptions {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const named = parsed.error.issues.flatMap((issue) => {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
      return keys.map((key) => ({
        path: [...issue.path, ...(key === undefined ? [] : [key])].join('.') || '(options)',
        message: issue.message,
      }));
    });
    const detail = named.map(({ path, message }) => `${path}: ${message}`).join('; ');
    const paths = named.map(({ path }) => path);
    throw new InvalidOptionsError(`Invalid emulator options: ${detail}`, paths, parsed.error);
  }
  const { rateLimit, ...rest } = parsed.data;
  return {
    ...rest,
    rateLimit:
      rateLimit === false
        ? false
        : rateLimit
          ? { v1: rateLimit.perSecond, v2: rateLimit.perSecond }
          : { ...DEFAULT_RATE_LIMITS },
  };
}

/** Compile-time check: the schema accepts every `EmulatorOptions`. */
const inputAgrees: z.input<typeof optionsSchema> = {} as EmulatorOptions;
void inputAgrees;
