import { GuardError } from '../errors.js';
import type { MulterFile, Selection } from './selection.js';

/**
 * multer's field rules for files another guard already parsed (as `any()`): a file in a field
 * the selection does not accept, or more than its `maxCount`, is multer's
 * `LIMIT_UNEXPECTED_FILE`, answered 413 `LIMIT_EXCEEDED` as the guard's own parser would.
 */
export function selectionError(
  files: readonly MulterFile[],
  selection: Selection,
): GuardError | undefined {
  if (selection.kind === 'any') return undefined;
  const allowed = allowedCounts(selection);
  const seen = new Map<string, number>();
  for (const file of files) {
    const count = (seen.get(file.fieldname) ?? 0) + 1;
    seen.set(file.fieldname, count);
    const max = allowed.get(file.fieldname);
    if (max === undefined || count > max) {
      return new GuardError('LIMIT_EXCEEDED', {
        detail: `LIMIT_UNEXPECTED_FILE: field '${file.fieldname}' is not accepted here (${describe(selection)})`,
      });
    }
  }
  return undefined;
}

/**
 * The files each field of a selection may send (multer's `filesLeft`); `any()` has no such map.
 * A `maxCount` that is not a number means no bound, and `NaN` none at all, as multer reads them
 * (`typeof maxCount === 'number'`, then `filesLeft || 0`): JavaScript callers can pass either.
 */
export function allowedCounts(selection: Exclude<Selection, { kind: 'any' }>): Map<string, number> {
  switch (selection.kind) {
    case 'none':
      return new Map();
    case 'single':
      return new Map([[selection.field, 1]]);
    case 'array':
      return new Map([[selection.field, countOf(selection.maxCount)]]);
    case 'fields':
      return new Map(selection.fields.map((f) => [f.name, countOf(f.maxCount)] as const));
  }
}

function countOf(maxCount: unknown): number {
  if (typeof maxCount !== 'number') return Number.POSITIVE_INFINITY;
  return Number.isNaN(maxCount) ? 0 : maxCount;
}

function describe(selection: Selection): string {
  switch (selection.kind) {
    case 'single':
      return `single('${selection.field}')`;
    case 'array':
      return `array('${selection.field}'${selection.maxCount === undefined ? '' : `, ${selection.maxCount}`})`;
    case 'fields':
      return `fields(${selection.fields.map((f) => f.name).join(', ')})`;
    default:
      return `${selection.kind}()`;
  }
}
