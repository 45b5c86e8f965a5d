import appendField from 'append-field';
import type { Limits } from '../options.js';

/**
 * What multer 2.5 refuses in a text field's name and value, in its order and with its reasons
 * (`FormRefusal` codes), so that `req.body` is what `multer().any()` would set: the name's escapes
 * reversed, then its length, nesting depth and array indexes bounded, then the value nested by
 * append-field (`a[b][]` → `{ a: { b: [...] } }`). Undefined when the field is taken.
 */
export function addField(
  body: Record<string, unknown>,
  rawName: string | undefined,
  value: string,
  truncated: { nameTruncated: boolean; valueTruncated: boolean },
  limits: Limits,
): FieldRefusal | undefined {
  if (rawName === undefined || rawName === null) return { code: 'MISSING_FIELD_NAME' };
  const name = decodeFormDataName(rawName);
  if (truncated.nameTruncated) return { code: 'LIMIT_FIELD_KEY' };
  if (truncated.valueTruncated) return { code: 'LIMIT_FIELD_VALUE', field: name };
  if (rawName.length > limits.maxFieldNameSize) return { code: 'LIMIT_FIELD_KEY' };
  if (name.split('[').length - 1 > limits.maxFieldDepth) {
    return { code: 'LIMIT_FIELD_NESTING', field: name };
  }
  if (exceedsArrayIndex(name, limits.maxArrayIndex)) {
    return { code: 'LIMIT_FIELD_ARRAY_INDEX', field: name };
  }
  try {
    appendField(body, name, value);
  } catch {
    return { code: 'INVALID_FIELD_NAME', field: name };
  }
  return undefined;
}

/** A field multer would refuse: its code, and the field's name where multer gives it. */
export interface FieldRefusal {
  code:
    | 'MISSING_FIELD_NAME'
    | 'LIMIT_FIELD_KEY'
    | 'LIMIT_FIELD_VALUE'
    | 'LIMIT_FIELD_NESTING'
    | 'LIMIT_FIELD_ARRAY_INDEX'
    | 'INVALID_FIELD_NAME';
  field?: string;
}

/**
 * The name a browser escaped back to what the form said: the WHATWG HTML serialisation escapes
 * LF, CR and `"` in names and file names as `%0A`, `%0D`, `%22`, and busboy leaves them escaped.
 * Only these three (a bare `%` is never escaped: `50%.png` stays), as multer reverses them.
 */
export function decodeFormDataName(name: string): string {
  if (!name.includes('%')) return name;
  return name.replace(/%0A|%0D|%22/gi, (escaped) => {
    const code = escaped.toUpperCase();
    return code === '%0A' ? '\n' : code === '%0D' ? '\r' : '"';
  });
}

/** A bracket path append-field reads as nesting (`a[b][0][]`); other names are literal keys. */
const BRACKET_PATH = /^[^[]+(?:\[[^\]]+\])*(?:\[\])?$/;

/**
 * Whether a name append-field would read as a path has an array index above `limit`: `a[3]`
 * makes an array of length 4, and `a[4294967294]` one the handler cannot iterate.
 */
function exceedsArrayIndex(name: string, limit: number): boolean {
  if (!name.includes('[') || !BRACKET_PATH.test(name)) return false;
  for (const match of name.matchAll(/\[(\d+)\]/g)) {
    if (Number(match[1]) > limit) return true;
  }
  return false;
}
