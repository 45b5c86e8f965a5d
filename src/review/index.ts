// Reviewers' actions with their audit trail, shared by the reviewer CLI and the console.
export {
  auditState,
  purgeIncident,
  type Reviewer,
  releaseIncident,
  reportIncident,
} from './actions.js';
export { type AllowListOptions, allowRecord, pdqOf } from './allow-list.js';
export {
  AUDIT_FILE,
  type AuditAction,
  type AuditEntry,
  type AuditInput,
  type AuditLog,
  type AuditVerification,
  createAuditLog,
  GENESIS,
} from './audit-log.js';
