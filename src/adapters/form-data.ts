import { fieldEntries } from '../multipart/field-entries.js';
import { filesOf, type MulterTarget } from '../multipart/selection.js';

/**
 * The scanned upload as Web `FormData`: the text fields, then the files the handler may see,
 * each a `File` whose type is the one sniffed from its bytes.
 */
export function toFormData(fields: Record<string, unknown>, target: MulterTarget): FormData {
  const form = new FormData();
  for (const [name, value] of fieldEntries(fields)) form.append(name, value);
  for (const file of filesOf(target)) {
    // `mimetype` is the type sniffed from the bytes (`handOver`), the claim kept apart.
    const type = file.mimetype || 'application/octet-stream';
    form.append(
      file.fieldname,
      new File([file.buffer ?? Buffer.alloc(0)], file.originalname, { type }),
    );
  }
  return form;
}
