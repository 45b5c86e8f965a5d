/**
 * One value per process, shared by every loaded copy of the library (a bundled copy and the one
 * in node_modules, ESM and CommonJS): kept on `globalThis` under a `Symbol.for` key, made by the
 * first copy that asks.
 */
export function processWide<T>(name: string, create: () => T): T {
  const shared = globalThis as Record<symbol, unknown>;
  const key = Symbol.for(name);
  shared[key] ??= create();
  return shared[key] as T;
}
