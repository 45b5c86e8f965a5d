/**
 * Public types shared by the core, the adapters, the client and the quarantine store.
 * Everything here is data: no framework, no I/O.
 */

/** The five image types PhotoDNA accepts, as sniffed from the bytes (never the client's claim). */
export type ImageMimeType = 'image/gif' | 'image/jpeg' | 'image/png' | 'image/bmp' | 'image/tiff';

/** Facts about one uploaded file, established by the guard before any PhotoDNA call. */
export interface FileFacts {
  /** The multipart field name. */
  field: string;
  /** The client's file name: data only, never used to build a path. */
  originalname: string;
  /** The type sniffed from the bytes, not the client's `Content-Type`. */
  mimetype: ImageMimeType;
  size: number;
  width: number;
  height: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  /** The PDQ hash and quality, when a PDQ back end hashed the file (NCMEC and StopNCII share PDQ). */
  pdq?: PdqFacts;
}

/** A file's PDQ hash (64 hex digits, 256 bits) and its quality (0-100; below 50 is unreliable). */
export interface PdqFacts {
  hash: string;
  quality: number;
  /** The allow-list (of known false positives) that suppressed a match, when one did. */
  allowedBy?: string;
}

/** What a `hasher` is told about the file besides its bytes. */
export interface PhotoDnaHashInput {
  /** The type sniffed from the bytes. */
  mimetype: ImageMimeType;
  width: number;
  height: number;
  /** Aborted when the uploader leaves or the scan deadline passes. */
  signal: AbortSignal;
}

/**
 * The organisation's own PhotoDNA hash function (licensed separately from Microsoft; this package
 * never ships one): resolves to the base64 PhotoDNA hash of the image.
 */
export type PhotoDnaHasher = (bytes: Buffer, input: PhotoDnaHashInput) => Promise<string>;

/** One hash list that matched (PhotoDNA `MatchFlags[]`). */
export interface MatchFlag {
  /** The list's source, e.g. `NCMEC`, `Test`. */
  source: string;
  /** Industry classes: A1, A2, B1, B2. */
  violations: string[];
  /**
   * Smaller is closer: for PhotoDNA the squared Euclidean distance between hashes, for PDQ the
   * Hamming distance (bits that differ, of 256).
   */
  matchDistance?: number;
  matchId?: string;
  /** Which hash matched, when the guard runs more than one back end (`pdq` option). */
  algorithm?: 'photodna' | 'pdq';
  /** What a PDQ list file said about the hash that matched (CSV columns, or a line's note). */
  metadata?: Readonly<Record<string, string>>;
}

/** What a matcher answers for one file. */
export interface MatchResult {
  isMatch: boolean;
  trackingId: string;
  matchFlags: MatchFlag[];
  /** The file's PDQ hash and quality, when the back end computed them (copied to `file.pdq`). */
  pdq?: PdqFacts;
}

/** What the guard hands a matcher for one validated file. */
export interface MatchRequest {
  bytes: Buffer;
  /** The sniffed type; the PhotoDNA client sends it as `Content-Type`. */
  contentType: ImageMimeType;
  file: FileFacts;
  /** Aborted when the uploader disconnects or the scan deadline (`scanTimeoutMs`) passes. */
  signal: AbortSignal;
}

/**
 * The seam between the guard and a hash-matching back end. The default is the PhotoDNA client;
 * tests and other back ends plug in their own. Throw a `GuardError` (for example
 * `new GuardError('SCAN_UNAVAILABLE', ...)`) to say the file could not be checked.
 */
export interface Matcher {
  match(request: MatchRequest): Promise<MatchResult>;
  /** Called by `guard.close()`. */
  close?(): Promise<void>;
}

export type Policy = 'block' | 'quarantine' | 'flag';
export type FailMode = 'closed' | 'open';
export type ScanOutcome = 'clean' | 'match' | 'unchecked';
/**
 * A request's status: a scan outcome, or `'pending'` when files were accepted before their check
 * and wait in the durable queue (`defer`); each such file has a `scanId`.
 */
export type RequestStatus = ScanOutcome | 'pending';

/** Per-file result, as exposed on `req.photodna.files`. */
export interface ScannedFile extends FileFacts {
  isMatch: boolean;
  /** Absent when the file could not be checked (`failMode: 'open'`). */
  trackingId?: string;
  matchFlags: MatchFlag[];
  /**
   * The deferred scan job of this file (set when it was queued: `defer`, or `failMode: 'open'`
   * with a `queue`): store it next to your object; the later `scan` / `match` events carry it.
   */
  scanId?: string;
}

/** `req.photodna` (Koa: `ctx.state.photodna`), set on every scanned request. */
export interface PhotoDnaResult {
  status: RequestStatus;
  files: ScannedFile[];
}

/** A pino-compatible logger. Never handed image bytes, keys or passwords. */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/** NCMEC reporter details; `options.reporter` supplies defaults for `event.report()`. */
export interface ReporterInfo {
  /** At most 1,000 characters (Unicode code points), surrounding whitespace not counted. */
  orgName: string;
  /** At most 1,000 characters (Unicode code points), surrounding whitespace not counted. */
  reporterName: string;
  reporterEmail: string;
  ncmecUser: string;
  ncmecPassword: string;
  /** Route the report to NCMEC's test endpoint (`AdditionalMetadata: IsTest=true`). */
  isTest?: boolean;
  /** At most 1,000 characters (Unicode code points). */
  reporteeName?: string;
  reporteeIpAddress?: string;
  /** At most 10,000 characters (Unicode code points), with the guard's note about an unknown IP. */
  additionalInfo?: string;
  publiclyAvailable?: boolean;
}

/** The Report endpoint's answer. */
export interface ReportResult {
  trackingId: string;
  /** The service's status code (3000 = OK). */
  statusCode: number;
  description?: string;
  /** The full parsed response body. */
  raw: unknown;
}

/** One `ViolationContentCollection` entry of a Report body (SPEC section 2). */
export interface ReportViolationContent {
  Name: string;
  /** Base64 of the image bytes. */
  Value: string;
  Location?: { Latitude: number; Longitude: number; Altitude: number };
  UploadIpAddress?: string;
  UploadDateTime?: string;
  AdditionalMetadata?: Array<{
    Key: 'viewedByEsp' | 'publiclyAvailable' | 'additionalInfo';
    Value: string;
  }>;
}

/** The JSON body of `POST /photodna/v1.0/Report` (SPEC section 2). */
export interface ReportBody {
  OrgName: string;
  ReporterName: string;
  ReporterEmail: string;
  IncidentTime: string;
  ReporteeName: string;
  /** Omitted when no valid IP address is known (a note says why in `additionalInfo`). */
  ReporteeIPAddress?: string;
  ViolationContentCollection: ReportViolationContent[];
  AdditionalMetadata?: Array<{ Key: string; Value: string }>;
}

/** NCMEC CyberTipline credentials, sent as `x-usr` / `x-pwd`. Never logged. */
export interface NcmecCredentials {
  ncmecUser: string;
  ncmecPassword: string;
}
