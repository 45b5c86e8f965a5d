import type { IncomingMessage } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import busboy from 'busboy';
import type { Limits } from '../options.js';
import { classifyFailure, UploadAborted } from './form-errors.js';
import { type FilePlan, FormRead, type FormTarget } from './form-read.js';
import { readsAsMultipart } from './is-multipart.js';
import type { Selection } from './selection.js';
import { allowedCounts } from './selection-rules.js';

export { clientLeft, UploadAborted } from './form-errors.js';

/**
 * Sees the body from the moment it is piped into busboy (the core's `BufferedBytes` counts it,
 * and may stop the parse by destroying `parser` with a `GuardError`).
 */
export interface BodyWatcher {
  watch(body: Readable, parser: Writable): void;
}

/** What the parser reads: a body stream with the request's headers (`complete` when Node's request). */
type ParseSource = FormTarget & { headers: Record<string, unknown> };

/**
 * The guard's limits as busboy's: every count and size finite, each one past the guard's own
 * (busboy reports a size or count when it reaches its limit; the guard refuses only beyond it),
 * as multer passes them.
 */
function busboyLimits(limits: Limits): busboy.Limits {
  return {
    fileSize: limits.maxFileSize + 1,
    files: limits.maxFiles,
    fields: limits.maxFields,
    fieldSize: limits.maxFieldSize + 1,
    fieldNameSize: limits.maxFieldNameSize,
    parts: limits.maxParts + 1,
  };
}

/** Where a selection's files go and how many each field may send (multer's rules). */
function planOf(selection: Selection): FilePlan {
  if (selection.kind === 'any') return { place: 'list', counts: undefined };
  const place =
    selection.kind === 'single'
      ? 'single'
      : selection.kind === 'fields'
        ? 'byField'
        : selection.kind === 'array'
          ? 'list'
          : 'none';
  return { place, counts: allowedCounts(selection) };
}

/**
 * The guard's multipart parser: busboy read into memory with finite limits taken from the
 * guard's options, setting `body` and `file(s)` exactly as `multer().any()` (or `single`,
 * `array`, `fields`, `none`) with memory storage and the same limits would (`FormRead`; held to
 * multer's results by test/unit/multipart/multer-parity.test.ts). The guard ran multer itself
 * before; the per-request work of multer's general machinery (storage engines, async file
 * filters, an `AsyncResource`, two spreads per file) was a measurable share of a guarded
 * request (issue 16, bench/README.md).
 */
export class MultipartParser {
  readonly #limits: Limits;
  readonly #busboyLimits: busboy.Limits;
  /** One plan per selection, made on first use rather than per request. */
  readonly #plans = new WeakMap<Selection, FilePlan>();

  constructor(limits: Limits) {
    this.#limits = limits;
    this.#busboyLimits = busboyLimits(limits);
  }

  /**
   * Parses a request-like body stream (a readable with `headers`, such as Node's request) into
   * its `body` and `file(s)` properties; rejects with a `GuardError` or `UploadAborted`.
   * `counted` (the guard's `BufferedBytes`) sees the body as it is read, and may stop the parse.
   * A body that delivers no bytes for `limits.bodyIdleMs` meanwhile is destroyed (`IdleBody`):
   * the parse then rejects with `UploadAborted`, as for an uploader who left.
   *
   * Undefined when the body is not read: multer's test of the request (type-is: a body, and a
   * `Content-Type` that parses as `multipart/*`) refuses it, and nothing was read. Known at
   * once; the guard then need not run the same test before (issue 16).
   */
  parse(req: ParseSource, selection: Selection, counted?: BodyWatcher): Promise<void> | undefined {
    // A stream destroyed before the parser's listeners exist (the uploader left while a
    // middleware ahead of the guard ran) never ends or errors again: it would wait forever.
    if (req.destroyed) return Promise.reject(new UploadAborted());
    if (!readsAsMultipart(req.headers as IncomingMessage['headers'])) return undefined;
    let plan = this.#plans.get(selection);
    if (!plan) {
      plan = planOf(selection);
      this.#plans.set(selection, plan);
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers as IncomingMessage['headers'],
        limits: this.#busboyLimits,
      });
    } catch (error) {
      return Promise.reject(classifyFailure(error, req));
    }
    return new Promise<void>((resolve, reject) => {
      const read = new FormRead(req, parser, plan, this.#limits, (error?: unknown) => {
        if (error === undefined) resolve();
        else reject(classifyFailure(error, req));
      });
      read.start(counted);
    });
  }
}
