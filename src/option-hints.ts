import { z } from 'zod';

/**
 * Hints for an unknown option key, in the order a user most likely needs them: a multer option
 * (the guard is not multer), a key that belongs in a sub-object, then a typo.
 */

/** multer's own options: the guard parses into memory, so these mean "keep your multer". */
const MULTER_OPTIONS = new Set([
  'dest',
  'storage',
  'fileFilter',
  'preservePath',
  'defParamCharset',
]);

/** multer's (busboy's) limit names and ours. */
const MULTER_LIMITS: Record<string, string | undefined> = {
  fileSize: 'maxFileSize',
  files: 'maxFiles',
  fields: 'maxFields',
  fieldSize: 'maxFieldSize',
  fieldNameSize: 'maxFieldNameSize',
  parts: 'maxParts',
  headerPairs: undefined,
};

/** The text after "option 'x' is not known" for `key` found at `path` of `schema`. */
export function unknownKeyHint(key: string, path: PropertyKey[], schema: z.ZodType): string {
  if (path.length === 0 && MULTER_OPTIONS.has(key)) {
    return `: '${key}' is a multer option, and photodna-guard is not multer (it keeps files in memory). To keep your own multer and its storage, mount guard.scan() after it: app.post('/upload', multer({ ${key}: ... }).single('file'), guard.scan(), handler)`;
  }
  if (path.join('.') === 'limits' && key in MULTER_LIMITS) {
    const ours = MULTER_LIMITS[key];
    return ours
      ? ` (that is multer's name: did you mean 'limits.${ours}'?)`
      : ': part headers are bounded by the multipart parser itself (16 KiB and 2,000 lines per part)';
  }
  const here = [...path, key].join('.').toLowerCase();
  const elsewhere = pathsOf(key, schema).filter((p) => p.toLowerCase() !== here);
  if (elsewhere.length > 0) return ` (did you mean '${elsewhere.join("' or '")}'?)`;
  return typo(key, knownKeys(schema, path));
}

/** "Did you mean ...?" for a mistyped key, from the keys known at that path. */
function typo(key: string, known: string[]): string {
  const best = known
    .map((name) => ({ name, distance: editDistance(key.toLowerCase(), name.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance)[0];
  return best && best.distance <= Math.max(2, Math.floor(best.name.length / 3))
    ? ` (did you mean '${best.name}'?)`
    : '';
}

/** Every dotted path in `schema` whose last key is `key` (case-insensitive). */
function pathsOf(key: string, schema: z.ZodType): string[] {
  const found: string[] = [];
  const walk = (node: unknown, prefix: string[]): void => {
    for (const object of objectsOf(node)) {
      for (const [name, child] of Object.entries(object.shape)) {
        const here = [...prefix, name];
        if (name.toLowerCase() === key.toLowerCase()) found.push(here.join('.'));
        if (here.length < 4) walk(child, here);
      }
    }
  };
  walk(schema, []);
  return [...new Set(found)];
}

export function knownKeys(schema: z.ZodType, path: PropertyKey[]): string[] {
  let current: unknown[] = [schema];
  for (const segment of path) {
    current = current.flatMap((node) =>
      objectsOf(node).flatMap((object) => {
        const child = object.shape[segment as string];
        return child ? [child] : [];
      }),
    );
  }
  return [
    ...new Set(current.flatMap((node) => objectsOf(node).flatMap((o) => Object.keys(o.shape)))),
  ];
}

/** The object schemas inside wrappers (optional, default, pipe) and unions. */
export function objectsOf(schema: unknown, depth = 0): z.ZodObject[] {
  if (schema instanceof z.ZodObject) return [schema];
  if (depth > 10) return [];
  const def = (schema as { def?: { innerType?: unknown; in?: unknown; options?: unknown[] } })?.def;
  if (!def) return [];
  if (def.innerType) return objectsOf(def.innerType, depth + 1);
  if (def.in) return objectsOf(def.in, depth + 1);
  if (Array.isArray(def.options)) return def.options.flatMap((o) => objectsOf(o, depth + 1));
  return [];
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
