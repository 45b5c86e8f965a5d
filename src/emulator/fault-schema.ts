import { z } from 'zod';
import type { FaultSpec } from './types.js';

const MAX_DELAY_MS = 10 * 60_000;

/** A `FaultSpec`, shared by `startEmulator` options and the admin route. */
export const faultSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('status'),
    status: z.int().min(400).max(599),
    retryAfter: z.int().min(0).max(86_400).optional(),
  }),
  z.strictObject({ type: z.literal('code'), code: z.int().min(0).max(99_999) }),
  z.strictObject({ type: z.literal('reset') }),
  z.strictObject({ type: z.literal('hang') }),
  z.strictObject({ type: z.literal('malformed') }),
  z.strictObject({ type: z.literal('shape') }),
  z.strictObject({ type: z.literal('latency'), ms: z.int().min(0).max(MAX_DELAY_MS) }),
]);

export const errorRateSchema = z.strictObject({
  rate: z.number().min(0).max(1),
  fault: faultSchema,
});

export const latencySchema = z.int().min(0).max(MAX_DELAY_MS);

/** Throws a `TypeError` naming the problem unless `fault` is a valid `FaultSpec`. */
export function assertFault(fault: unknown): asserts fault is FaultSpec {
  const parsed = faultSchema.safeParse(fault);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'fault'}: ${i.message}`);
    throw new TypeError(`invalid fault ${JSON.stringify(fault)}: ${detail.join('; ')}`);
  }
}

/** Compile-time check that the schema and the public type agree both ways. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const faultTypesAgree: Same<z.output<typeof faultSchema>, FaultSpec> = true;
void faultTypesAgree;
