// The PhotoDNA Cloud Service client: the only code that talks to the service.
export { type CallOptions, PhotoDnaClient } from './client.js';
export { ATTEMPT_CHANNEL, type AttemptMessage } from './diagnostics.js';
export type { PhotoDnaClientOptions } from './options.js';
export type { RedisClientLike } from './redis-connection.js';
export type { MatchResponse } from './responses.js';
