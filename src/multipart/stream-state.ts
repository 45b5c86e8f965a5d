import type { Readable } from 'node:stream';

/** Node's state object on every readable, the two fields its public getters return. */
interface ReadableState {
  readonly endEmitted: boolean;
  readonly destroyed: boolean;
}

/**
 * `stream.readableEnded` and `stream.destroyed`, read where those getters read them: Node's
 * `_readableState` (`endEmitted`, `destroyed`; held to the getters by
 * `test/unit/multipart/stream-state.test.ts`). On an Express request the getters sit four
 * prototypes up, and Express gives every request a V8 map of its own, so each read is an
 * inline-cache miss that walks the chain (about 1 µs); the state is an own property, found at
 * once (about 0.2 µs; bench/README.md). A readable without it (not Node's) is asked through the
 * getters.
 */
export function hasEnded(stream: Readable): boolean {
  const state = stateOf(stream);
  return state ? state.endEmitted : stream.readableEnded;
}

/** `stream.destroyed`, read as `hasEnded` reads `readableEnded`. */
export function isDestroyed(stream: Readable): boolean {
  const state = stateOf(stream);
  return state ? state.destroyed : stream.destroyed;
}

function stateOf(stream: Readable): ReadableState | undefined {
  const state = (stream as { _readableState?: unknown })._readableState;
  return typeof state === 'object' && state !== null ? (state as ReadableState) : undefined;
}
