// `photodna-guard/quarantine`: for authors of a custom quarantine store (docs/quarantine-store.md):
// the record and purge rules of the file store, so every store keeps evidence alike.
export * from './quarantine/index.js';
