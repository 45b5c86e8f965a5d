// The moderators' console: createConsole and its option types.
export { type Console, createConsole } from './create-console.js';
export type { ExpressConsoleMiddleware } from './express.js';
export type { IncidentDetail, IncidentView } from './incident-view.js';
export type { KoaConsoleMiddleware } from './koa.js';
export type { LiveHealth, LiveSample } from './live-feed.js';
export type { ConsoleAuthorize, ConsoleEventSource, ConsoleOptions } from './options.js';
