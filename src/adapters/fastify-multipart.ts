import { stat } from 'node:fs/promises';
import type { MulterFile, MulterTarget } from '../multipart/selection.js';

/** The parts of an @fastify/multipart file the guard reads (no import of the plugin itself). */
interface HostPart {
  type?: string;
  fieldname: string;
  filename: string;
  encoding: string;
  mimetype: string;
  _buf?: Buffer | null;
  filepath?: string;
}

/** A request decorated by @fastify/multipart. */
interface MultipartRequest {
  isMultipart?(): boolean;
  saveRequestFiles?(): Promise<{ files: HostPart[] } | HostPart[]>;
  body?: unknown;
  tmpUploads?: string[] | null;
}

/**
 * The files @fastify/multipart parsed, as the core's `scan()` reads them: buffered parts on
 * `request.body` (`attachFieldsToBody: true`), else the files `request.saveRequestFiles()` wrote
 * to disk (its result is cached, so the handler's own call gets the scanned list).
 */
export class HostFiles {
  readonly target: MulterTarget & { files: MulterFile[] };
  readonly #request: MultipartRequest;
  readonly #parts = new Map<MulterFile, { part: HostPart; list: HostPart[] | undefined }>();

  private constructor(request: MultipartRequest) {
    this.target = { files: [] };
    this.#request = request;
  }

  /** Collects the request's files; undefined when @fastify/multipart does not see multipart. */
  static async collect(request: unknown): Promise<HostFiles | undefined> {
    const req = request as MultipartRequest;
    if (typeof req.isMultipart !== 'function' || !req.isMultipart()) return undefined;
    const host = new HostFiles(req);
    const body = req.body && typeof req.body === 'object' ? Object.values(req.body) : [];
    for (const value of body) {
      for (const part of Array.isArray(value) ? value : [value]) {
        if (isFilePart(part)) host.#add(part, part._buf ?? Buffer.alloc(0), undefined);
      }
    }
    if (host.target.files.length > 0 || typeof req.saveRequestFiles !== 'function') return host;
    const saved = await req.saveRequestFiles();
    const list = Array.isArray(saved) ? saved : saved.files;
    for (const part of list)
      host.#add(part, undefined, list, (await stat(part.filepath ?? '')).size);
    return host;
  }

  /**
   * Gives the parts the handler reads what was checked: the bytes (`_buf`, which `toBuffer()`
   * answers; trailing data stripped, `sanitize`d), the sniffed type and the file name. A file on
   * disk was rewritten in place by the core.
   */
  apply(): void {
    for (const [file, { part }] of this.#parts) {
      if (part._buf && file.buffer) part._buf = file.buffer;
      part.mimetype = file.mimetype;
      part.filename = file.originalname;
    }
  }

  /** Removes files the core dropped (withheld or rejected) from where the handler would look. */
  drop(files: readonly MulterFile[]): void {
    const body = this.#request.body as Record<string, unknown> | undefined;
    for (const file of files) {
      const entry = this.#parts.get(file);
      if (!entry) continue;
      const { part, list } = entry;
      if (list) remove(list, part);
      // Already deleted by the core: @fastify/multipart's own cleanup must not log a failure.
      if (part.filepath && this.#request.tmpUploads)
        remove(this.#request.tmpUploads, part.filepath);
      if (!body || list) continue;
      for (const [key, value] of Object.entries(body)) {
        if (value === part) delete body[key];
        else if (Array.isArray(value) && value.includes(part)) {
          body[key] = value.filter((p) => p !== part);
        }
      }
    }
  }

  #add(part: HostPart, buffer: Buffer | undefined, list: HostPart[] | undefined, size = 0): void {
    const file: MulterFile = {
      fieldname: part.fieldname,
      originalname: part.filename,
      encoding: part.encoding,
      mimetype: part.mimetype,
      size: buffer ? buffer.length : size,
    };
    if (buffer) file.buffer = buffer;
    if (part.filepath) file.path = part.filepath;
    this.target.files.push(file);
    this.#parts.set(file, { part, list });
  }
}

function isFilePart(value: unknown): value is HostPart {
  return typeof value === 'object' && value !== null && (value as HostPart).type === 'file';
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
