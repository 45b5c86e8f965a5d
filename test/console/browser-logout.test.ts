/**
 * "Log out" in a real browser (Debian's Chromium through playwright-core) leaves no console
 * session in the browser and no incident on the screen: when another tab logged in anew (this
 * page's CSRF token is that of the session it replaced) and when the session already ended.
 * Under the host's own login (`authorize`) the console cannot log anyone out: no such button.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { seededStore, TOKEN } from './helpers.js';
import { describeWithChromium, launchChromium } from './requires-chromium.js';
import { loginFromPage, serveConsole } from './serve-console.js';

const tempDir = useTempDirs();

describeWithChromium('logging out of the console (Chromium)', () => {
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await browser.context.clearCookies();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function serve(options: { token: string } | { authorize: () => string }) {
    const { store } = await seededStore(await tempDir());
    const reviewConsole: Console = createConsole({ store, ...options });
    cleanups.push(() => reviewConsole.close());
    const served = await serveConsole(reviewConsole);
    cleanups.push(() => served.close());
    return served.url;
  }

  async function loggedIn(context: BrowserContext, url: string): Promise<Page> {
    const page = await context.newPage();
    cleanups.push(() => page.close());
    await page.goto(url);
    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await page.locator('#incident-rows tr').first().waitFor({ timeout: 15_000 });
    return page;
  }

  /** Another tab of the console: it shares the first one's cookie, so it opens signed in. */
  async function anotherTab(context: BrowserContext, url: string): Promise<Page> {
    const page = await context.newPage();
    cleanups.push(() => page.close());
    await page.goto(url);
    await page.locator('#incident-rows tr').first().waitFor({ timeout: 15_000 });
    return page;
  }

  /** What the browser's cookie gets from the console now (its own fetch, same origin). */
  const sessionStatus = (page: Page) =>
    page.evaluate(() => fetch('api/session').then((res) => res.status));

  it('after a login in another tab, logs that session out and shows the login form', async () => {
    const url = await serve({ token: TOKEN });
    const first = await loggedIn(browser.context, url);
    const second = await anotherTab(browser.context, url);
    // A login there (as its form sends it): the cookie now names a new session.
    const status = await loginFromPage(second, TOKEN);
    expect(status).toBe(200);
    await first.click('#logout');
    await first.locator('#login').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await first.locator('#main').isVisible()).toBe(false);
    expect(await sessionStatus(first)).toBe(401);
  }, 60_000);

  it('once the session ended elsewhere, shows the login form instead of the incidents', async () => {
    const url = await serve({ token: TOKEN });
    const page = await loggedIn(browser.context, url);
    const other = await anotherTab(browser.context, url);
    await other.click('#logout'); // ends the session both pages share
    await other.locator('#login').waitFor({ state: 'visible', timeout: 15_000 });
    await page.click('#logout');
    await page.locator('#login').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.locator('#incident-rows tr').count()).toBe(0);
  }, 60_000);

  it("under the host's login, offers no button that could not log anyone out", async () => {
    const url = await serve({ authorize: () => 'moderator-1' });
    const page = await browser.context.newPage();
    cleanups.push(() => page.close());
    await page.goto(url);
    await page.locator('#incident-rows tr').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('#who').innerText()).toMatch(/moderator-1/);
    expect(await page.locator('#logout').isVisible()).toBe(false);
  });
});
