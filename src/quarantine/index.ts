// The quarantine store: the interface any back end implements, the file-system store, and the
// record helpers a custom store reuses so its records match the file store's exactly.
export { createFileQuarantineStore, DEFAULT_PRESERVE_DAYS } from './fs-store.js';
export { type PurgeDecision, purgeDecision } from './purge-policy.js';
export { createRecord, lastSuccessfulReport, withReport } from './record.js';
export type {
  FileQuarantineStore,
  FileQuarantineStoreOptions,
  Incident,
  QuarantineRecord,
  QuarantineStore,
  ReportStatus,
} from './types.js';
export { isQuarantineStore } from './types.js';
