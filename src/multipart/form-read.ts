import type { Readable, Writable } from 'node:stream';
import type busboy from 'busboy';
import type { Limits } from '../options.js';
import { addField, decodeFormDataName } from './field-names.js';
import { formRefused, REQUEST_ABORTED, REQUEST_CLOSED, type RefusalCode } from './form-errors.js';
import { IdleBody } from './idle-body.js';
import type { BodyWatcher } from './parser.js';
import type { MulterFile } from './selection.js';

/**
 * Where a selection's files go and how many each field may send: multer's file strategies
 * (`any()` and `array()` a list in `files`, `single()` one `file`, `fields()` lists by field in
 * `files`, `none()` no file at all).
 */
export interface FilePlan {
  readonly place: 'list' | 'single' | 'byField' | 'none';
  /** Files each field may send (others: none); undefined for any field, any number (`any()`). */
  readonly counts: ReadonlyMap<string, number> | undefined;
}

/** What the body is read into: a Node request, or a body stream standing for one. */
export type FormTarget = Readable & {
  body?: unknown;
  file?: MulterFile;
  files?: MulterFile[] | Record<string, MulterFile[]>;
  complete?: boolean;
};

const EMPTY = Buffer.alloc(0);
const noop = (): void => {};

/**
 * One request's body read by busboy into `body` (text fields, nested as multer nests them) and
 * `file` / `files` (multer's memory-storage file shape, in the order the parts arrived), as
 * `multer({ storage: memoryStorage(), limits }).any()` (or `single`, `array`...) would set them.
 *
 * Settles once (`settle`): when busboy has read the whole form (every file part ended with it),
 * or at the first refusal or failure, after which busboy is unhooked and its remaining events go
 * nowhere. A refused body is drained before the refusal is given, so that the answer does not
 * meet a client still sending (EPIPE); one whose uploader left is given up at once.
 */
export class FormRead {
  readonly #target: FormTarget;
  readonly #parser: busboy.Busboy;
  readonly #limits: Limits;
  readonly #place: FilePlan['place'];
  /** The files each field may still send; undefined for `any()`. */
  readonly #left: Map<string, number> | undefined;
  readonly #fields: Record<string, unknown> = Object.create(null);
  readonly #list: MulterFile[] | undefined;
  readonly #byField: Record<string, MulterFile[]> | undefined;
  /** Called once, with the reason the read stopped short or nothing; then unset. */
  #settle: ((error?: unknown) => void) | undefined;
  /** Ends a body that stalls while it is read (`limits.bodyIdleMs`); stopped once settled. */
  #idle: IdleBody | undefined;

  constructor(
    target: FormTarget,
    /** busboy's parser for the body (typed here as a stream: the package's types never name busboy). */
    parser: Writable,
    plan: FilePlan,
    limits: Limits,
    settle: (error?: unknown) => void,
  ) {
    this.#target = target;
    this.#parser = parser as busboy.Busboy;
    this.#limits = limits;
    this.#place = plan.place;
    this.#left = plan.counts && new Map(plan.counts);
    this.#settle = settle;
    target.body = this.#fields;
    if (plan.place === 'list') target.files = this.#list = [];
    else if (plan.place === 'byField') target.files = this.#byField = Object.create(null);
    // Kept after the read is over (multer's too): a late error with no listener would crash.
    target.on('error', this.#requestFailed);
    target.on('aborted', this.#requestAborted);
    target.on('close', this.#requestClosed);
    const form = this.#parser;
    form.on('field', this.#field);
    form.on('file', this.#file);
    form.on('error', this.#fail);
    form.on('partsLimit', this.#partsLimit);
    form.on('filesLimit', this.#filesLimit);
    form.on('fieldsLimit', this.#fieldsLimit);
    form.on('close', this.#parsed);
  }

  /**
   * Pipes the body into busboy. `counted` (the guard's `BufferedBytes`) sees it as it is read;
   * listeners added after `pipe`, which sets the body flowing.
   */
  start(counted: BodyWatcher | undefined): void {
    const target = this.#target;
    target.pipe(this.#parser);
    counted?.watch(target, this.#parser);
    if (this.#settle) this.#idle = new IdleBody(target, this.#limits.bodyIdleMs, false);
  }

  readonly #field = (
    name: string | undefined,
    value: string,
    info: { nameTruncated: boolean; valueTruncated: boolean },
  ): void => {
    if (this.#settle === undefined) return;
    const refused = addField(this.#fields, name, value, info, this.#limits);
    if (refused) this.#refuse(refused.code, refused.field);
  };

  readonly #file = (
    rawName: string | undefined,
    stream: Readable,
    info: { filename: string | undefined; encoding: string; mimeType: string },
  ): void => {
    stream.on('error', this.#fail);
    if (this.#settle === undefined) {
      stream.resume();
      return;
    }
    if (rawName === undefined || rawName === null) {
      this.#refuse('MISSING_FIELD_NAME');
      return;
    }
    const fieldname = decodeFormDataName(rawName);
    // A file input left empty: a part with no file name, no file (multer skips it too).
    if (!info.filename) {
      stream.resume();
      return;
    }
    if (rawName.length > this.#limits.maxFieldNameSize) {
      this.#refuse('LIMIT_FIELD_KEY');
      return;
    }
    const originalname = decodeFormDataName(info.filename);
    const left = this.#left;
    if (left) {
      const count = left.get(fieldname) ?? 0;
      if (count <= 0) {
        this.#refuse('LIMIT_UNEXPECTED_FILE', fieldname);
        return;
      }
      left.set(fieldname, count - 1);
    }
    const file: MulterFile = {
      fieldname,
      originalname,
      encoding: info.encoding,
      mimetype: info.mimeType,
      buffer: EMPTY,
      size: 0,
    };
    if (this.#list) this.#list.push(file);
    else if (this.#byField) {
      const group = this.#byField[fieldname];
      if (group) group.push(file);
      else this.#byField[fieldname] = [file];
    }
    collect(this, stream, file);
  };

  /**
   * A file part read to its end: its bytes kept (a `single()` file placed only now, as multer).
   * Not once the read has settled: a refused request keeps no bytes of a part read after it.
   */
  fileRead(file: MulterFile, buffer: Buffer): void {
    if (this.#settle === undefined) return;
    file.buffer = buffer;
    file.size = buffer.length;
    if (this.#place === 'single') this.#target.file = file;
  }

  /** A file over `maxFileSize` (busboy counts to one byte past it): dropped, and the form refused. */
  fileTooLarge(file: MulterFile): void {
    if (this.#settle === undefined) return;
    const group = this.#list ?? this.#byField?.[file.fieldname];
    group?.splice(group.indexOf(file), 1);
    if (this.#byField && group?.length === 0) delete this.#byField[file.fieldname];
    this.#refuse('LIMIT_FILE_SIZE', file.fieldname);
  }

  readonly #partsLimit = (): void => this.#refuse('LIMIT_PART_COUNT');
  readonly #filesLimit = (): void => this.#refuse('LIMIT_FILE_COUNT');
  readonly #fieldsLimit = (): void => this.#refuse('LIMIT_FIELD_COUNT');

  /** busboy closes after its last file part ended: the whole form is read. */
  readonly #parsed = (): void => {
    const settle = this.#unhook();
    if (settle) this.#finish(settle);
  };

  #refuse(code: RefusalCode, field?: string): void {
    this.#fail(formRefused(code, field));
  }

  /**
   * Stops at the first failure; the rest of the body is drained before it is given, so the
   * answer goes to a client that has stopped sending.
   */
  readonly #fail = (error: unknown): void => {
    const settle = this.#unhook();
    if (!settle) return;
    const target = this.#target;
    target.resume();
    if (!target.readable || target.destroyed) {
      this.#finish(settle, error);
      return;
    }
    // Still watched for stalling meanwhile: a client that stops sending mid-drain is ended.
    let given = false;
    const give = (): void => {
      if (given) return;
      given = true;
      this.#finish(settle, error);
    };
    target.once('end', give);
    target.once('error', give);
    target.once('close', give);
  };

  /** The body itself failed or closed unfinished: the uploader left; nothing to wait for. */
  #requestFailure(error: Error): void {
    const settle = this.#unhook();
    if (!settle) return;
    this.#parser.destroy(error);
    this.#finish(settle, error);
  }

  readonly #requestFailed = (error?: Error): void => {
    this.#requestFailure(error ?? new Error('Request error'));
  };
  readonly #requestAborted = (): void => this.#requestFailure(new Error(REQUEST_ABORTED));
  readonly #requestClosed = (): void => {
    if (!this.#target.readableEnded) this.#requestFailure(new Error(REQUEST_CLOSED));
  };

  /** Done with the body (the check that follows is no idle body): the outcome given. */
  #finish(settle: (error?: unknown) => void, error?: unknown): void {
    this.#idle?.stop();
    settle(error);
  }

  /** The settle callback, once: busboy unpiped and silenced (a late error has a listener). */
  #unhook(): ((error?: unknown) => void) | undefined {
    const settle = this.#settle;
    if (!settle) return undefined;
    this.#settle = undefined;
    const parser = this.#parser;
    this.#target.unpipe(parser);
    parser.removeAllListeners();
    parser.on('error', noop);
    return settle;
  }
}

/**
 * One file part's bytes collected in memory, then joined (multer's memory storage): always a
 * copy of its own, as multer's, since the chunks are views of the request's reads.
 */
function collect(form: FormRead, stream: Readable, file: MulterFile): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
  });
  stream.on('end', () => form.fileRead(file, Buffer.concat(chunks, size)));
  stream.on('limit', () => form.fileTooLarge(file));
}
