/**
 * Text fields as multer leaves them (`a[b]` names nested, repeated names as arrays), flattened
 * back to `[name, value]` pairs in order: `a[b]` names and repeated entries.
 */
export function* fieldEntries(value: unknown, prefix = ''): Generator<[string, string]> {
  if (typeof value === 'string') yield [prefix, value];
  else if (Array.isArray(value)) for (const item of value) yield* fieldEntries(item, prefix);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield* fieldEntries(item, prefix ? `${prefix}[${key}]` : key);
    }
  }
}
