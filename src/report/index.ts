// NCMEC reports: the SPEC section 2 body, and reporting a quarantined incident from its record.
export {
  buildReportBody,
  credentialsOf,
  missingReporterFields,
  REQUIRED_REPORTER_FIELDS,
  type ReportSubject,
  reportContentName,
} from './body.js';
export {
  type BoundedReportField,
  REPORT_FIELD_LIMITS,
  ReportFieldTooLongError,
  type TooLongReportField,
} from './field-limits.js';
export { type ReportQuarantinedArgs, type ReportSender, reportQuarantined } from './from-record.js';
