/**
 * The text fields @fastify/multipart parsed, as the core's field-image check reads them (issue
 * 11: an image in a text field is checked like a file). The plugin keeps them in three shapes:
 * field parts (`{ type: 'field', value }`) on `request.body` under `attachFieldsToBody: true` and
 * in `saveRequestFiles()`'s `values`, bare strings under `'keyValues'`. The core gets one plain
 * body (key → value, arrays kept); what it withholds or replaces there (a matched image under
 * 'flag', a sanitized one) is written back to the host's body by `apply`.
 */

/** A text field part of @fastify/multipart (a JSON field's `value` is already parsed). */
interface FieldPart {
  type: 'field';
  value: unknown;
}

/** A text value given to the core, and where it came from. */
interface Source {
  /** The field part holding it; undefined for a bare 'keyValues' string. */
  part: FieldPart | undefined;
  /** Its index in the core's array under the key; undefined for a single value. */
  index: number | undefined;
  value: string;
}

export class HostFields {
  /** The plain body the core reads: each key's text value(s); file parts and Buffers left out. */
  readonly body: Record<string, unknown> = {};
  readonly #container: Record<string, unknown>;
  readonly #sources = new Map<string, Source[]>();

  /** `container`: the object holding the fields (`request.body`, or the saved `values`). */
  constructor(container: Record<string, unknown>) {
    this.#container = container;
    for (const [key, entry] of Object.entries(container)) {
      if (!Array.isArray(entry)) {
        const value = this.#take(key, entry, undefined);
        if (value !== SKIP) this.body[key] = value;
        continue;
      }
      const values = entry.map((item, index) => this.#take(key, item, index));
      const kept = values.filter((value) => value !== SKIP);
      if (kept.length > 0) this.body[key] = values.map((v) => (v === SKIP ? undefined : v));
    }
  }

  /**
   * Writes what the core changed back to the host's body: a withheld value is removed (its part
   * or string taken out), a replaced one set. Objects (parsed JSON fields) were changed in place.
   */
  apply(): void {
    for (const [key, sources] of this.#sources) {
      const now = this.body[key];
      // Back to front, so that removing one entry of an array leaves the others' indexes.
      for (const source of [...sources].reverse()) {
        const value =
          source.index === undefined ? now : (now as unknown[] | undefined)?.[source.index];
        if (value === source.value) continue;
        if (typeof value === 'string') this.#set(key, source, value);
        else this.#remove(key, source);
      }
    }
  }

  /** The value the core sees for one host entry, recording where a string came from. */
  #take(key: string, entry: unknown, index: number | undefined): unknown {
    const container = this.#container;
    const part = isPluginPart(entry, 'field', container) ? (entry as FieldPart) : undefined;
    const value = part ? part.value : entry;
    // A file part, or a 'keyValues' file's Buffer: the files are HostFiles' (a parsed JSON
    // field's object, whatever its shape, is walked by the core and changed in place).
    if (Buffer.isBuffer(entry) || isPluginPart(entry, 'file', container)) return SKIP;
    if (typeof value === 'string') {
      const list = this.#sources.get(key) ?? [];
      list.push({ part, index, value });
      this.#sources.set(key, list);
    }
    return value;
  }

  #set(key: string, source: Source, value: string): void {
    if (source.part) source.part.value = value;
    else replaceEntry(this.#container, key, source.value, value);
  }

  #remove(key: string, source: Source): void {
    replaceEntry(this.#container, key, source.part ?? source.value, undefined);
  }
}

/**
 * Replaces `old` under `key` of a multipart body with `next`, or takes it out (undefined): the
 * key's value itself, or one entry of its array. Found by identity (a part, a Buffer) or by value
 * (a string), never by position: what the guard takes out of one array (a withheld file) must not
 * move what it writes back after (a text field under the same key). A key left empty is deleted.
 */
export function replaceEntry(
  container: Record<string, unknown>,
  key: string,
  old: unknown,
  next: unknown,
): void {
  const held = container[key];
  if (held === old) {
    if (next === undefined) delete container[key];
    else container[key] = next;
    return;
  }
  if (!Array.isArray(held)) return;
  const at = held.indexOf(old);
  if (at < 0) return;
  if (next !== undefined) held[at] = next;
  else held.splice(at, 1);
  if (held.length === 0) delete container[key];
}

const SKIP = Symbol('not a text field');

/**
 * Whether `value` is a part @fastify/multipart made (of `type`): its `fields` is the object that
 * holds it, which a JSON field's value, whatever its shape, cannot be.
 */
export function isPluginPart(value: unknown, type: 'file' | 'field', container: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const part = value as { type?: unknown; fields?: unknown };
  return part.type === type && part.fields === container;
}
