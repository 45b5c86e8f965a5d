// The quarantine store: the interface any back end implements, and the file-system store.
export { createFileQuarantineStore, DEFAULT_PRESERVE_DAYS } from './fs-store.js';
export { type PurgeDecision, purgeDecision } from './purge-policy.js';
export type {
  FileQuarantineStore,
  FileQuarantineStoreOptions,
  Incident,
  QuarantineRecord,
  QuarantineStore,
  ReportStatus,
} from './types.js';
export { isQuarantineStore } from './types.js';
