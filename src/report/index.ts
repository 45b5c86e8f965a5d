// NCMEC reports: the SPEC section 2 body, and reporting a quarantined incident from its record.
export {
  buildReportBody,
  credentialsOf,
  missingReporterFields,
  REQUIRED_REPORTER_FIELDS,
  type ReportSubject,
  reportContentName,
} from './body.js';
export { type ReportQuarantinedArgs, type ReportSender, reportQuarantined } from './from-record.js';
