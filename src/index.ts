// The root entry: the Express guard, the PhotoDNA client, errors, the quarantine store and types.
// Only the documented API: `test/unit/exports.test.ts` pins this list.
export {
  type Guard,
  type GuardMiddleware,
  photodnaGuard,
  type RouteGuard,
} from './adapters/express.js';
export type { ExpressRequest } from './adapters/express-request.js';
export type { GuardMethods } from './adapters/guard-factory.js';
export * from './client/index.js';
export {
  ERROR_CODES,
  type ErrorCode,
  GuardError,
  type GuardErrorOptions,
  InvalidOptionsError,
  PhotoDnaServiceError,
  QuarantineError,
  type UnavailableReason,
} from './errors.js';
export type * from './events.js';
export type { GuardOptions, PolicyFunction, PolicyOption, RouteOverrides } from './options.js';
export {
  createFileQuarantineStore,
  type FileQuarantineStore,
  type FileQuarantineStoreOptions,
  type Incident,
  isQuarantineStore,
  type QuarantineRecord,
  type QuarantineStore,
  type ReportStatus,
} from './quarantine/index.js';
export {
  type BoundedReportField,
  REPORT_FIELD_LIMITS,
  ReportFieldTooLongError,
  type ReportQuarantinedArgs,
  type ReportSender,
  reportQuarantined,
  type TooLongReportField,
} from './report/index.js';
export type * from './types.js';
