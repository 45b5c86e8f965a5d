// `photodna-guard/emulator`: the local PhotoDNA-compatible server.
export * from './emulator/index.js';
