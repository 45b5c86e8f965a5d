/**
 * What the Express entry adds to Express's `Request`: `req.photodna`, and `req.file` /
 * `req.files` typed without `@types/multer`. The `Multer` declarations repeat `@types/multer`'s
 * exactly, so both merge when a project has that package too.
 */
import type { Readable } from 'node:stream';
import type { Request } from 'express';
import type { PhotoDnaResult } from '../types.js';

declare global {
  namespace Express {
    namespace Multer {
      /** Object containing file metadata and access information. */
      interface File {
        /** Name of the form field associated with this file. */
        fieldname: string;
        /** Name of the file on the uploader's computer. */
        originalname: string;
        /**
         * Value of the `Content-Transfer-Encoding` header for this file.
         * @deprecated since July 2015
         */
        encoding: string;
        /** Value of the `Content-Type` header for this file (the client's claim; see `req.photodna` for the sniffed type). */
        mimetype: string;
        /** Size of the file in bytes. */
        size: number;
        /** A readable stream of this file. Only available to a custom `StorageEngine`. */
        stream: Readable;
        /** `DiskStorage` only: Directory to which this file has been uploaded. */
        destination: string;
        /** `DiskStorage` only: Name of this file within `destination`. */
        filename: string;
        /** `DiskStorage` only: Full path to the uploaded file. */
        path: string;
        /** `MemoryStorage` only (the guard's own parser): A Buffer containing the entire file. */
        buffer: Buffer;
      }
    }

    interface Request {
      /** The file of `guard.single(field)` (or multer's `single()`). */
      file?: Multer.File | undefined;
      /** The files of `guard.array/fields/any()` and `app.use(guard)` (or multer's). */
      files?:
        | {
            [fieldname: string]: Multer.File[];
          }
        | Multer.File[]
        | undefined;
      /** Set by photodna-guard on every scanned request. */
      photodna?: PhotoDnaResult;
    }
  }
}

/** The request a `policy` function receives on Express. */
export type ExpressRequest = Request;
