import { afterAll, beforeAll } from 'vitest';
import { type Emulator, startEmulator, testImages } from '../../src/emulator/index.js';
import type { GuardOptions } from '../../src/index.js';

/** One emulator for a test file (no rate limit unless asked), and guard options pointing at it. */
export function useEmulator(options: Parameters<typeof startEmulator>[0] = { rateLimit: false }) {
  const state: { emulator: Emulator } = {} as never;
  beforeAll(async () => {
    state.emulator = await startEmulator(options);
  });
  afterAll(async () => {
    await state.emulator?.close();
  });
  return {
    get emulator(): Emulator {
      return state.emulator;
    },
    /** Guard options for a client of this emulator (a fresh key per call keeps rate windows apart). */
    options(extra: GuardOptions = {}): GuardOptions {
      return {
        apiKey: `key-${Math.random().toString(36).slice(2)}`,
        baseUrl: state.emulator.url,
        ...extra,
      };
    },
  };
}

/** A harmless synthetic image the emulator reports as a match (source "Test"). */
export function knownImage(): Buffer {
  const image = testImages()[0];
  if (!image) throw new Error('the emulator ships no test image');
  return image.bytes;
}
