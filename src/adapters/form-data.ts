import { filesOf, type MulterFile, type MulterTarget } from '../multipart/selection.js';
import type { PhotoDnaResult } from '../types.js';

/** The type sniffed from each file's bytes, kept for a second guard on the same request. */
const sniffed = new WeakMap<MulterFile, string>();

/** Notes the sniffed types of a scanned request's remaining files (withheld matches are gone). */
export function noteSniffedTypes(target: MulterTarget, photodna: PhotoDnaResult): void {
  // photodna.files lists every scanned file in order; the withheld ones are its matches.
  const kept = photodna.files.filter((file) => !file.isMatch);
  filesOf(target).forEach((file, i) => {
    const type = kept[i]?.mimetype;
    if (type) sniffed.set(file, type);
  });
}

/**
 * The scanned upload as Web `FormData`: the text fields, then the files the handler may see,
 * each a `File` whose type is the one sniffed from its bytes.
 */
export function toFormData(fields: Record<string, unknown>, target: MulterTarget): FormData {
  const form = new FormData();
  appendFields(form, '', fields);
  for (const file of filesOf(target)) {
    const type = sniffed.get(file) ?? 'application/octet-stream';
    form.append(
      file.fieldname,
      new File([file.buffer ?? Buffer.alloc(0)], file.originalname, { type }),
    );
  }
  return form;
}

/** multer nests `a[b]` names and repeats: written back as `a[b]` and repeated entries. */
function appendFields(form: FormData, prefix: string, value: unknown): void {
  if (typeof value === 'string') form.append(prefix, value);
  else if (Array.isArray(value)) for (const item of value) appendFields(form, prefix, item);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      appendFields(form, prefix ? `${prefix}[${key}]` : key, item);
    }
  }
}
