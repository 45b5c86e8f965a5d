// The root entry: the Express guard, the PhotoDNA client, errors and types.
export {
  type Guard,
  type GuardMiddleware,
  photodnaGuard,
  type RouteGuard,
} from './adapters/express.js';
export type { GuardMethods } from './adapters/guard-factory.js';
export * from './client/index.js';
export * from './errors.js';
export type * from './events.js';
export type { GuardOptions, RouteOverrides } from './options.js';
export * from './quarantine/index.js';
export * from './report/index.js';
export type * from './types.js';
