import type { ErrorCode } from '../errors.js';
import type { MulterFile } from '../multipart/selection.js';
import type { PhotoDnaResult } from '../types.js';

/**
 * Hand the request on to the route. `photodna` is set when the core scanned the request (absent
 * when it passed through untouched); `withheld` lists the files removed from the request
 * (matches under 'flag'): their bytes never reach the handler.
 */
export class Continue {
  readonly kind = 'continue';
  readonly photodna: PhotoDnaResult | undefined;
  readonly withheld: readonly MulterFile[];

  constructor(photodna: PhotoDnaResult | undefined, withheld: readonly MulterFile[]) {
    this.photodna = photodna;
    this.withheld = withheld;
  }
}

/** Answer the request with this JSON rejection; the handler must not run. */
export class Respond {
  readonly kind = 'respond';
  readonly code: ErrorCode;
  readonly status: number;
  /** Lower-case header names, `content-type` included. */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON text of the body. */
  readonly body: string;

  constructor(code: ErrorCode, status: number, headers: Record<string, string>, body: string) {
    this.code = code;
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

/** The uploader left: there is nobody to answer and nothing to hand on. */
export class Gone {
  readonly kind = 'gone';
}

/** What the core decided for one request; adapters apply it and decide nothing. */
export type Outcome = Continue | Respond | Gone;

export const GONE: Gone = Object.freeze(new Gone());
/** A request the guard does not handle (not multipart, or already scanned by another guard). */
export const PASS_THROUGH: Continue = Object.freeze(new Continue(undefined, Object.freeze([])));
