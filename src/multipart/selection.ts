/** Which file fields a route accepts: the same choices as a multer instance. */
export type Selection =
  | { kind: 'any' }
  | { kind: 'none' }
  | { kind: 'single'; field: string }
  | { kind: 'array'; field: string; maxCount?: number }
  | { kind: 'fields'; fields: ReadonlyArray<{ name: string; maxCount?: number }> };

/** multer's file shape (memory storage has `buffer`, disk storage has `path`). */
export interface MulterFile {
  fieldname: string;
  originalname: string;
  encoding: string;
  mimetype: string;
  /** The client's `Content-Type` claim, kept by the guard when it sets `mimetype` to the sniffed type. */
  clientMimetype?: string;
  size: number;
  buffer?: Buffer;
  path?: string;
  destination?: string;
  filename?: string;
}

/** Where multer put the files: `req.file` for single, `req.files` array or object otherwise. */
export interface MulterTarget {
  file?: MulterFile;
  files?: MulterFile[] | Record<string, MulterFile[]>;
}

/** Every file of a parsed request, in order. */
export function filesOf(target: MulterTarget): MulterFile[] {
  const list: MulterFile[] = [];
  if (target.file) list.push(target.file);
  if (Array.isArray(target.files)) list.push(...target.files);
  else if (target.files) {
    // Another parser's single file per field (formidable's `{ field: File }`) counts as one.
    for (const group of Object.values(target.files) as unknown[]) {
      if (Array.isArray(group)) list.push(...group);
      else if (group) list.push(group as MulterFile);
    }
  }
  return list;
}

/**
 * Every file of every place a framework's parsers leave files (Express: `req.file` and
 * `req.files`; Koa: `ctx`, `ctx.request`, `ctx.req`), each file object once. All of them, not the
 * first place holding any: two parsers (or a parser and a middleware copying a file for
 * convenience) may fill different places, and the handler may read any one. Once, since one
 * file is often in two places (`@koa/multer` sets `ctx.files` and `ctx.request.files`), and a
 * file counted twice would be read and checked twice and count twice against `maxFiles`.
 */
export function filesIn(targets: readonly MulterTarget[]): MulterFile[] {
  const seen = new Set<MulterFile>();
  for (const target of targets) for (const file of filesOf(target)) seen.add(file);
  return [...seen];
}

/**
 * Whether a file another parser left is multer's shape, which the guard can read (`buffer` or
 * `path`) and withhold. formidable's (koa-body, express-formidable) has `filepath` instead.
 */
export function isMulterFile(file: unknown): file is MulterFile {
  if (typeof file !== 'object' || file === null) return false;
  const { fieldname, buffer, path } = file as Partial<MulterFile>;
  return typeof fieldname === 'string' && (Buffer.isBuffer(buffer) || typeof path === 'string');
}

/** Removes files from wherever multer put them (matched files under 'flag'). */
export function withholdFiles(target: MulterTarget, withheld: ReadonlySet<MulterFile>): void {
  if (withheld.size === 0) return;
  if (target.file && withheld.has(target.file)) delete target.file;
  if (Array.isArray(target.files)) target.files = target.files.filter((f) => !withheld.has(f));
  else if (target.files) {
    for (const [name, group] of Object.entries(target.files) as Array<[string, unknown]>) {
      if (Array.isArray(group)) target.files[name] = group.filter((f) => !withheld.has(f));
      else if (withheld.has(group as MulterFile)) delete target.files[name];
    }
  }
}

/**
 * Re-shapes files already parsed by another guard (as `any()`) for this route's selection, so a
 * route guard behind `app.use(guard)` leaves `file` / `files` as its own multer would, without
 * reading or scanning the body again. `all` are the request's files wherever they were found;
 * the shape goes to every place that holds files (a parser ahead of both guards may have left
 * them off Node's request: `@koa/multer` moves them to `ctx` and `ctx.request`), or to the first
 * place, the guard's own, when none does.
 */
export function reshape(
  places: readonly MulterTarget[],
  all: readonly MulterFile[],
  selection: Selection,
): void {
  const holding = places.filter((p) => p.file !== undefined || p.files !== undefined);
  const shape = selected(all, selection);
  for (const place of holding.length > 0 ? holding : places.slice(0, 1)) {
    delete place.file;
    delete place.files;
    if (shape.file) place.file = shape.file;
    if (shape.files) place.files = shape.files;
  }
}

/** Where this selection's multer leaves `all`: `file`, `files` (list or by field), or nothing. */
function selected(all: readonly MulterFile[], selection: Selection): MulterTarget {
  switch (selection.kind) {
    case 'any':
      return { files: [...all] };
    case 'none':
      return {};
    case 'single': {
      const file = all.find((f) => f.fieldname === selection.field);
      return file ? { file } : {};
    }
    case 'array':
      return { files: all.filter((f) => f.fieldname === selection.field) };
    case 'fields': {
      const grouped: Record<string, MulterFile[]> = {};
      for (const { name } of selection.fields) {
        const group = all.filter((f) => f.fieldname === name);
        if (group.length > 0) grouped[name] = group;
      }
      return { files: grouped };
    }
  }
}
