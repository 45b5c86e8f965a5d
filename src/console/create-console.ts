/**
 * `createConsole(options)`: the moderators' console for one quarantine store, as a plain Node
 * handler plus Express and Koa mounts. Refuses to start without `authorize` or `token`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { QuarantineStore } from '../quarantine/types.js';
import { type AuditLog, createAuditLog } from '../review/audit-log.js';
import { ActionsInFlight } from './actions-in-flight.js';
import { ConsoleAuth } from './auth.js';
import { type ExpressConsoleMiddleware, expressMount } from './express.js';
import { createHandler } from './handler.js';
import { type KoaConsoleMiddleware, koaMount } from './koa.js';
import { LiveFeed } from './live-feed.js';
import { type ConsoleOptions, resolveConsoleOptions } from './options.js';
import { ConsoleReporting } from './reporting.js';

export interface Console {
  readonly store: QuarantineStore;
  readonly audit: AuditLog;
  /**
   * Serves one request for the console mounted at `base` (no trailing slash; `''` at the root).
   * Answers 404 for paths outside `base`.
   */
  handle(req: IncomingMessage, res: ServerResponse, base?: string): Promise<void>;
  /** Express middleware: `app.use('/console', console.express())`. */
  express(): ExpressConsoleMiddleware;
  /** Koa middleware serving the console at `prefix`: `app.use(console.koa('/console'))`. */
  koa(prefix: string): KoaConsoleMiddleware;
  /**
   * Ends live streams, stops the sample timer, waits for the reviewer actions in progress (a report
   * sent is recorded and audited first; one still waiting on another reporter's claim stops,
   * unsent; actions asked for from then on are refused with 503) and closes a PhotoDNA client it
   * created.
   */
  close(): Promise<void>;
}

export function createConsole(options: ConsoleOptions): Console {
  const resolved = resolveConsoleOptions(options);
  const audit = createAuditLog(resolved.auditPath);
  const reporting = new ConsoleReporting(resolved);
  const live = resolved.events ? new LiveFeed(resolved.events, resolved.queueDepth) : undefined;
  const actions = new ActionsInFlight();
  const handler = createHandler({
    options: resolved,
    // A session that ends (logout, replaced, expired) ends its live streams at once.
    auth: new ConsoleAuth(resolved, (id) => live?.endSession(id)),
    audit,
    reporting,
    live,
    actions,
  });
  const handle = (req: IncomingMessage, res: ServerResponse, base = '') =>
    handler(req, res, base.replace(/\/+$/, ''));
  return {
    store: resolved.store,
    audit,
    handle,
    express: () => expressMount(handle),
    koa: (prefix) => koaMount(handle, prefix),
    async close() {
      live?.close();
      await actions.close();
      await reporting.close();
    },
  };
}
