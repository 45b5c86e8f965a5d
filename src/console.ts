// `photodna-guard/console`: the moderators' console, and the audit log it shares with the CLI.
export * from './console/index.js';
export * from './review/index.js';
