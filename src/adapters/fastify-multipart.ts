import { stat } from 'node:fs/promises';
import type { GuardEvents } from '../events.js';
import { BodyCheck } from '../multipart/body-check.js';
import { IdleBody } from '../multipart/idle-body.js';
import type { MulterFile, MulterTarget } from '../multipart/selection.js';
import { HostFields, isPluginPart, replaceEntry } from './fastify-fields.js';
import { type SavingRequest, saveInOwnDirectory } from './fastify-upload-dir.js';
import type { NodeRequest, NodeResponse } from './node-view.js';

/** The parts of an @fastify/multipart file the guard reads (no import of the plugin itself). */
interface HostPart {
  type?: string;
  /** Absent on a file part whose Content-Disposition has no `name=` (the plugin keeps it). */
  fieldname?: string;
  /** Absent on a part @fastify/multipart takes for a file without a `filename=` (octet-stream). */
  filename?: string;
  encoding: string;
  mimetype: string;
  /** The type the client claimed, kept when `mimetype` becomes the sniffed one (as on multer files). */
  clientMimetype?: string;
  _buf?: Buffer | null;
  filepath?: string;
  /** The request's fields (the plugin's own object, shared by every part). */
  fields?: unknown;
}

/** What `saveRequestFiles()` resolves with (a list alone before the plugin's `{ files, values }`). */
type Saved = { files: HostPart[]; values?: unknown } | HostPart[];

/** A request decorated by @fastify/multipart. */
interface MultipartRequest extends Partial<SavingRequest<Saved>> {
  raw: NodeRequest;
  isMultipart?(): boolean;
  body?: unknown;
}

function savesFiles(req: MultipartRequest): req is MultipartRequest & SavingRequest<Saved> {
  return typeof req.saveRequestFiles === 'function';
}

/** Where a bare Buffer sat on the body (`attachFieldsToBody: 'keyValues'`), found again by identity. */
interface BareSlot {
  key: string;
  original: Buffer;
}

/**
 * The files @fastify/multipart parsed, as the core's `scan()` reads them: buffered parts on
 * `request.body` (`attachFieldsToBody: true`), the bare Buffers it leaves there instead under
 * `attachFieldsToBody: 'keyValues'` (a file's bytes without its name or type: text fields are
 * strings), else the files `request.saveRequestFiles()` wrote to disk, in a directory of the
 * request's own (`saveInOwnDirectory`; its result is cached, so the handler's own call gets the
 * scanned list).
 */
export class HostFiles {
  /** The files, and the text fields as one plain body (`body`), where the core looks for them. */
  readonly target: MulterTarget & { files: MulterFile[]; body?: Record<string, unknown> };
  readonly #request: MultipartRequest;
  #fields: HostFields | undefined;
  readonly #parts = new Map<
    MulterFile,
    { part: HostPart; field: string; list: HostPart[] | undefined }
  >();
  readonly #bare = new Map<MulterFile, BareSlot>();

  private constructor(request: MultipartRequest) {
    this.target = { files: [] };
    this.#request = request;
    this.#fields = undefined;
  }

  /**
   * Collects the request's files; undefined when @fastify/multipart does not see multipart.
   * `res` tells when the exchange is over, for the saved files' directory to go. A body the
   * plugin reads here that delivers no bytes for `idleMs` is destroyed (`IdleBody`), as by an
   * uploader who left: the plugin's read then fails.
   */
  static async collect(
    request: unknown,
    res: NodeResponse,
    events: GuardEvents,
    idleMs: number,
  ): Promise<HostFiles | undefined> {
    const req = request as MultipartRequest;
    if (typeof req.isMultipart !== 'function' || !req.isMultipart()) return undefined;
    const host = new HostFiles(req);
    const body = req.body && typeof req.body === 'object' ? Object.entries(req.body) : [];
    for (const [key, value] of body) {
      for (const part of Array.isArray(value) ? value : [value]) {
        if (isPluginPart(part, 'file', req.body)) {
          const file = part as HostPart;
          host.#add(file, Buffer.isBuffer(file._buf) ? file._buf : Buffer.alloc(0), undefined);
        } else if (Buffer.isBuffer(part)) host.#addBare(key, part);
      }
    }
    if (host.target.files.length > 0 || !savesFiles(req)) {
      return host.#withFields(req.body);
    }
    // The plugin reads the body now, its parser more lenient than the guard's: the guard's own
    // parser judges the same bytes alongside, so a body it refuses is refused here too.
    const check = BodyCheck.watch(req.raw);
    const idle = req.raw.readableEnded ? undefined : new IdleBody(req.raw, idleMs);
    const saving = saveInOwnDirectory(req, res, events);
    const saved = await (check ? check.alongside(saving) : saving).finally(() => idle?.stop());
    const list = Array.isArray(saved) ? saved : saved.files;
    for (const part of list)
      host.#add(part, undefined, list, (await stat(part.filepath ?? '')).size);
    // Buffered modes keep the fields on the body; otherwise they are the saved `values`.
    // (Versions of the plugin before `{ files, values }` keep the fields on each saved file.)
    return host.#withFields(req.body ?? (Array.isArray(saved) ? saved[0]?.fields : saved.values));
  }

  /**
   * Gives the parts the handler reads what was checked: the bytes (`_buf`, which `toBuffer()`
   * answers; trailing data stripped, `sanitize`d), the sniffed type (the client's claim kept as
   * `clientMimetype`) and the file name. A file on disk was rewritten in place by the core.
   */
  apply(): void {
    for (const [file, { part }] of this.#parts) {
      if (part._buf && file.buffer) part._buf = file.buffer;
      if (file.clientMimetype !== undefined) part.clientMimetype = file.clientMimetype;
      part.mimetype = file.mimetype;
      // A part that had no file name keeps none (the core reads it as '').
      if (part.filename !== undefined || file.originalname !== '')
        part.filename = file.originalname;
    }
    for (const [file, slot] of this.#bare) {
      if (file.buffer) this.#replaceOnBody(slot.key, slot.original, file.buffer);
    }
    this.#fields?.apply();
  }

  /** The text fields of `container` (an object), for the core's field-image check. */
  #withFields(container: unknown): HostFiles {
    if (container && typeof container === 'object' && !Array.isArray(container)) {
      this.#fields = new HostFields(container as Record<string, unknown>);
      this.target.body = this.#fields.body;
    }
    return this;
  }

  /** Removes files the core dropped (withheld or rejected) from where the handler would look. */
  drop(files: readonly MulterFile[]): void {
    for (const file of files) {
      const slot = this.#bare.get(file);
      if (slot) this.#replaceOnBody(slot.key, slot.original, undefined);
      const entry = this.#parts.get(file);
      if (!entry) continue;
      const { part, field, list } = entry;
      if (list) remove(list, part);
      // Already deleted by the core: @fastify/multipart's own cleanup must not log a failure.
      if (part.filepath && this.#request.tmpUploads)
        remove(this.#request.tmpUploads, part.filepath);
      if (!list) this.#replaceOnBody(field, part, undefined);
    }
  }

  #replaceOnBody(key: string, old: unknown, next: unknown): void {
    const body = this.#request.body;
    if (body && typeof body === 'object') {
      replaceEntry(body as Record<string, unknown>, key, old, next);
    }
  }

  /** A bare Buffer of 'keyValues': checked like a file named '' under its key. */
  #addBare(key: string, bytes: Buffer): void {
    const file: MulterFile = {
      fieldname: key,
      originalname: '',
      encoding: '7bit',
      mimetype: 'application/octet-stream',
      size: bytes.length,
      buffer: bytes,
    };
    this.target.files.push(file);
    this.#bare.set(file, { key, original: bytes });
  }

  #add(part: HostPart, buffer: Buffer | undefined, list: HostPart[] | undefined, size = 0): void {
    // A file part without `name=` in its Content-Disposition, which @fastify/multipart keeps (with
    // no field name) where multer refuses it: malformed, as where the guard parses (400).
    const field = part.fieldname;
    if (typeof field !== 'string') {
      throw new Error('Field name missing: a file part without a name in its Content-Disposition');
    }
    const file: MulterFile = {
      fieldname: field,
      originalname: part.filename ?? '',
      encoding: part.encoding,
      mimetype: part.mimetype,
      size: buffer ? buffer.length : size,
    };
    if (buffer) file.buffer = buffer;
    if (part.filepath) file.path = part.filepath;
    this.target.files.push(file);
    this.#parts.set(file, { part, field, list });
  }
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
