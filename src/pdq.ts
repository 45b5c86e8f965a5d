// `photodna-guard/pdq`: local PDQ hashing and matching (no PhotoDNA key needed).
export * from './pdq/index.js';
