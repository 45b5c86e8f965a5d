import { z } from 'zod';
import { InvalidOptionsError } from './errors.js';

/**
 * Parses options with a zod schema; on failure throws `InvalidOptionsError` whose message names
 * every bad option path, what was expected, and for an unknown key the likely intended one.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const paths: string[] = [];
  const lines = result.error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const path = [...issue.path, key].join('.');
        paths.push(path);
        return `option '${path}' is not known${suggest(key, schema, issue.path)}`;
      });
    }
    const path = issue.path.join('.') || '(root)';
    paths.push(path);
    return [`option '${path}': ${issue.message}`];
  });
  return throwInvalid(`${where}: ${lines.join('; ')}`, paths, result.error);
}

function throwInvalid(message: string, paths: string[], cause: unknown): never {
  throw new InvalidOptionsError(message, paths, cause);
}

/** "Did you mean ...?" for a mistyped key, from the keys the schema knows at that path. */
function suggest(key: string, schema: z.ZodType, path: PropertyKey[]): string {
  const known = knownKeys(schema, path);
  const best = known
    .map((name) => ({ name, distance: editDistance(key.toLowerCase(), name.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance)[0];
  return best && best.distance <= Math.max(2, Math.floor(best.name.length / 3))
    ? ` (did you mean '${best.name}'?)`
    : '';
}

function knownKeys(schema: z.ZodType, path: PropertyKey[]): string[] {
  let current: unknown = schema;
  for (const segment of [...path, null]) {
    current = unwrap(current);
    if (!(current instanceof z.ZodObject)) return [];
    if (segment === null) return Object.keys(current.shape);
    current = current.shape[segment as string];
  }
  return [];
}

function unwrap(schema: unknown): unknown {
  let current = schema;
  for (let i = 0; i < 10; i++) {
    const def = (current as { def?: { innerType?: unknown; in?: unknown; options?: unknown[] } })
      ?.def;
    if (!def) return current;
    if (def.innerType) current = def.innerType;
    else if (def.in) current = def.in;
    else if (Array.isArray(def.options))
      current = def.options.find((o) => o instanceof z.ZodObject) ?? current;
    else return current;
    if (current instanceof z.ZodObject) return current;
  }
  return current;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(
        current + 1,
        (row[j - 1] ?? 0) + 1,
        previous + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}
