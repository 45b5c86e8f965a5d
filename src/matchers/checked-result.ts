/**
 * A matcher's answer checked before anything reads it: an odd answer (a missing or non-boolean
 * `isMatch`, flags that are not a list) is never read as "clean" but refused as
 * `SCAN_UNAVAILABLE` (`malformed-response`). Every answer of a custom matcher goes through it,
 * and each back end's answer before two are joined (`compose.ts`).
 */
import { z } from 'zod';
import { GuardError } from '../errors.js';
import type { MatchResult } from '../types.js';

/** What any matcher must answer; a custom matcher's odd answer is never read as "clean". */
const matchResultSchema = z.object({
  isMatch: z.boolean(),
  trackingId: z.string(),
  matchFlags: z.array(
    z.object({
      source: z.string(),
      violations: z.array(z.string()),
      matchDistance: z.number().optional(),
      matchId: z.string().optional(),
      algorithm: z.enum(['photodna', 'pdq']).optional(),
      metadata: z.record(z.string(), z.string()).optional(),
    }),
  ),
  pdq: z
    .object({
      hash: z.string().regex(/^[0-9a-f]{64}$/),
      quality: z.number(),
      allowedBy: z.string().optional(),
    })
    .optional(),
});

/** A matcher's answer, checked: an odd answer is never read as "clean" (a `SCAN_UNAVAILABLE`). */
export function checkedResult(result: unknown): MatchResult {
  return plainNoMatch(result) ?? schemaChecked(result);
}

/**
 * The common answer, checked without zod (issue 16: the schema cost ~12 µs per file): no match,
 * no flags, no PDQ facts. Each field is read once, as the schema would, and the result is a new
 * object of those fields only; anything else goes through the schema.
 */
function plainNoMatch(result: unknown): MatchResult | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const { isMatch, trackingId, matchFlags, pdq } = result as Partial<
    Record<keyof MatchResult, unknown>
  >;
  if (isMatch !== false || typeof trackingId !== 'string' || pdq !== undefined) return undefined;
  if (!Array.isArray(matchFlags) || matchFlags.length !== 0) return undefined;
  return { isMatch: false, trackingId, matchFlags: [] };
}

function schemaChecked(result: unknown): MatchResult {
  const parsed = matchResultSchema.safeParse(result);
  if (parsed.success) return parsed.data;
  throw new GuardError('SCAN_UNAVAILABLE', {
    reason: 'malformed-response',
    detail: `the matcher answered something that is not a MatchResult: ${parsed.error.issues[0]?.message ?? ''}`,
  });
}
