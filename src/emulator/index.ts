// The PhotoDNA emulator (SPEC 3.5): `startEmulator`, its types and the shipped test images.
export { DEFAULT_HASH_THRESHOLD, DEFAULT_RATE_LIMITS } from './options.js';
export { startEmulator } from './start.js';
export { type TestImage, testImages } from './test-images.js';
export type * from './types.js';
