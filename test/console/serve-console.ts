import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Page } from 'playwright-core';
import type { Console } from '../../src/console/index.js';

/** A console mounted at `/console` of an Express app on a loopback port, as a browser opens it. */
export interface ServedConsole {
  /** The console's page: `http://127.0.0.1:<port>/console/`. */
  url: string;
  /** Stops the server (its connections too); the console itself is the caller's to close. */
  close(): Promise<void>;
}

export async function serveConsole(reviewConsole: Console): Promise<ServedConsole> {
  const app = express();
  app.use('/console', reviewConsole.express());
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/console/`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Collects the page's Content-Security-Policy violations (the console allows no exception). */
export function cspViolationsOf(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

/** A login as the page's own form sends it (same origin, shared cookie); its HTTP status. */
export function loginFromPage(page: Page, token: string): Promise<number> {
  return page.evaluate(
    (value) =>
      fetch('api/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token: value }),
      }).then((res) => res.status),
    token,
  );
}

/**
 * Has the page note each JSON answer it has handled, to be counted by `handledAnswers`:
 * installed before the page loads, it notes an answer's URL one task after its `res.json()`
 * resolved, so once every promise callback the page chained on it (its drawing, or its dropping)
 * has run. A test waits for that count to know that an answer arrived and was dealt with.
 */
export async function noteHandledAnswers(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const handled: string[] = [];
    (globalThis as unknown as { handledAnswers: string[] }).handledAnswers = handled;
    const json = Response.prototype.json;
    Object.defineProperty(Response.prototype, 'json', {
      value(this: Response) {
        const url = this.url;
        return json.call(this).finally(() => setTimeout(() => handled.push(url), 0));
      },
    });
  });
}

/** How many answers from URLs ending with `suffix` the page has handled (`noteHandledAnswers`). */
export function handledAnswers(page: Page, suffix: string): Promise<number> {
  return page.evaluate(
    (end) =>
      (globalThis as unknown as { handledAnswers: string[] }).handledAnswers.filter((url) =>
        url.endsWith(end),
      ).length,
    suffix,
  );
}
