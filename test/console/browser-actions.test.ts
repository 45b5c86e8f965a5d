/**
 * The console's irreversible actions in a real browser (Debian's Chromium through playwright-core):
 * Report and Purge, and a Release that allow-lists, are sent only once the moderator confirms in
 * the page, which names the incident and the action (for Report, NCMEC's test endpoint or the
 * real one). An action refused for a stale CSRF token (a login in another tab replaced the
 * session) is not retried: the page says the session changed, nothing was done, reload. While an
 * action is in flight its incident's action buttons are off; an answer for a view no longer
 * shown (another incident, the list, other filters) never draws over the one shown now.
 */
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { startEmulator } from '../../src/emulator/index.js';
import type { Emulator } from '../../src/emulator/types.js';
import { until } from '../helpers/until.js';
import { useTempDirs } from '../quarantine/helpers.js';
import { seededStore, TOKEN } from './helpers.js';
import { describeWithChromium, launchChromium } from './requires-chromium.js';
import {
  cspViolationsOf,
  handledAnswers,
  loginFromPage,
  noteHandledAnswers,
  serveConsole,
} from './serve-console.js';

// The page's globals the functions given to page.waitForFunction and page.evaluate read.
declare const document: {
  getElementById(
    id: string,
  ): { textContent: string | null; disabled?: boolean; click(): void } | null;
};

const tempDir = useTempDirs();

describeWithChromium('confirming irreversible actions (Chromium)', () => {
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let emulator: Emulator;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    emulator = await startEmulator({ port: 0 });
    browser = await launchChromium();
  }, 60_000);
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await browser.context.clearCookies();
    emulator.reset();
  });
  afterAll(async () => {
    await browser?.close();
    await emulator?.close();
  });

  async function serve(isTest: boolean) {
    const seeded = await seededStore(await tempDir());
    const reviewConsole: Console = createConsole({
      store: seeded.store,
      token: TOKEN,
      apiKey: 'test-key',
      baseUrl: emulator.url,
      reporter: {
        orgName: 'Example Forum',
        reporterName: 'Trust and Safety',
        reporterEmail: 'tns@example.com',
        ncmecUser: 'esp-user',
        ncmecPassword: 'esp-secret-pw',
        isTest,
      },
      allowList: { path: join(await tempDir(), 'allow.txt') },
    });
    cleanups.push(() => reviewConsole.close());
    const served = await serveConsole(reviewConsole);
    cleanups.push(() => served.close());
    return { url: served.url, ...seeded };
  }

  async function openIncident(context: BrowserContext, url: string, id: string): Promise<Page> {
    const page = await context.newPage();
    cleanups.push(() => page.close());
    await noteHandledAnswers(page);
    await page.goto(`${url}#/incident/${id}`);
    if (await page.locator('#login').isVisible()) {
      await page.fill('#token', TOKEN);
      await page.press('#token', 'Enter');
    }
    await page.locator('#detail').waitFor({ state: 'visible', timeout: 15_000 });
    return page;
  }

  /** Waits until the element's text matches (Playwright polls; no fixed sleeps). */
  const waitForText = (page: Page, id: string, pattern: RegExp) =>
    page.waitForFunction(
      ([elementId, source]) =>
        new RegExp(source as string).test(
          document.getElementById(elementId as string)?.textContent ?? '',
        ),
      [id, pattern.source],
      { timeout: 15_000 },
    );

  /** Holds the page's requests to `url` until the test lets them go: answers still on their way. */
  async function hold(page: Page, url: RegExp): Promise<Route[]> {
    const held: Route[] = [];
    await page.route(url, (route) => {
      held.push(route);
    });
    return held;
  }

  async function release(page: Page, url: RegExp, held: Route[]): Promise<void> {
    for (const route of held) await route.continue();
    await page.unroute(url);
  }

  /** Which of the incident's action buttons can be pressed. */
  const enabled = (page: Page) =>
    page.evaluate(() =>
      Object.fromEntries(
        ['report', 'release', 'purge'].map((id) => [id, !document.getElementById(id)?.disabled]),
      ),
    );
  const ALL_ON = { report: true, release: true, purge: true };
  const ALL_OFF = { report: false, release: false, purge: false };

  /** Takes `step`, then waits until the page has handled one more answer from `…suffix`. */
  async function answered(page: Page, suffix: string, step: () => Promise<unknown>) {
    const before = await handledAnswers(page, suffix);
    await step();
    await until(
      async () => (await handledAnswers(page, suffix)) > before,
      `an answer to ${suffix}`,
      15_000,
    );
  }

  it("an action in flight turns its incident's action buttons off (a second confirm cannot re-send); they return with its result or refusal", async () => {
    const { url, store, fresh, withPdq } = await serve(true);
    const page = await openIncident(browser.context, url, fresh.id);
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST') posts.push(new URL(request.url()).pathname);
    });
    expect(await enabled(page)).toEqual(ALL_ON);

    const reportUrl = /\/report$/;
    const reporting = await hold(page, reportUrl);
    await page.click('#report');
    await page.click('#confirm-ok');
    await until(() => reporting.length === 1, 'the report to leave the page', 15_000);
    await waitForText(page, 'action-status', /Working/);
    expect(await enabled(page)).toEqual(ALL_OFF);
    // Pressed again (a double confirm, a key repeat): nothing is asked, nothing sent.
    await page.evaluate(() => {
      document.getElementById('report')?.click();
      document.getElementById('purge')?.click();
    });
    expect(await page.locator('#confirm').isVisible()).toBe(false);
    // Another incident's buttons are on; back on this one, they are off while its report runs.
    await page.goto(`${url}#/incident/${withPdq.id}`);
    await waitForText(page, 'detail-title', new RegExp(withPdq.id));
    expect(await enabled(page)).toEqual(ALL_ON);
    await answered(page, `/api/incidents/${fresh.id}`, () => page.goBack());
    await waitForText(page, 'detail-title', new RegExp(fresh.id));
    expect(await enabled(page)).toEqual(ALL_OFF);

    await release(page, reportUrl, reporting);
    await waitForText(page, 'action-status', /^Reported: tracking id .+ \(test endpoint\)/);
    expect(await enabled(page)).toEqual(ALL_ON);
    expect(posts).toEqual([`/console/api/incidents/${fresh.id}/report`]);
    expect(emulator.testReports).toHaveLength(1);

    // A refusal (an early purge) turns them back on too, and is shown.
    const purgeUrl = /\/purge$/;
    const purging = await hold(page, purgeUrl);
    await page.click('#purge');
    await page.click('#confirm-ok');
    await until(() => purging.length === 1, 'the purge to leave the page', 15_000);
    expect(await enabled(page)).toEqual(ALL_OFF);
    await release(page, purgeUrl, purging);
    await waitForText(page, 'action-status', /^Refused: purge refused: preserved until/);
    expect(await enabled(page)).toEqual(ALL_ON);
    expect(await store.getRecord(fresh.id)).toBeDefined();
    expect(posts).toHaveLength(2);
  }, 60_000);

  it('an answer for a view no longer shown is dropped: a late incident, list or action result never draws over the current one', async () => {
    const { url, fresh, withPdq } = await serve(true);
    const page = await openIncident(browser.context, url, fresh.id);
    const violations = cspViolationsOf(page);

    // An incident whose answer comes after the moderator went Back to the one before.
    const lateUrl = new RegExp(`/api/incidents/${withPdq.id}$`);
    const late = await hold(page, lateUrl);
    await page.goto(`${url}#/incident/${withPdq.id}`);
    await until(() => late.length === 1, 'the later incident to be asked for', 15_000);
    await answered(page, `/api/incidents/${fresh.id}`, () => page.goBack());
    await answered(page, `/api/incidents/${withPdq.id}`, () => release(page, lateUrl, late));
    expect(await page.locator('#detail-title').innerText()).toBe(`Incident ${fresh.id}`);
    expect(await page.locator('#detail-fields').innerText()).toContain('/avatar');
    expect(await page.locator('#detail-fields').innerText()).not.toContain('/pdq');

    // A list for a filter the moderator has since changed.
    const releasedUrl = /\/api\/incidents\?status=released/;
    const releasedList = await hold(page, releasedUrl);
    await page.selectOption('#f-status', 'released');
    await page.click('#filters button[type=submit]');
    await until(() => releasedList.length === 1, 'the released list to be asked for', 15_000);
    await page.selectOption('#f-status', 'all');
    await answered(page, '/api/incidents?page=1', () => page.click('#filters button[type=submit]'));
    await answered(page, '/api/incidents?status=released&page=1', () =>
      release(page, releasedUrl, releasedList),
    );
    expect(await page.locator('#incident-rows tr').count()).toBe(3);
    expect(await page.locator('#list-summary').innerText()).toMatch(/^3 incidents/);

    // A report's answer after the moderator opened another incident: named, never drawn there.
    const reportUrl = /\/report$/;
    const reporting = await hold(page, reportUrl);
    await page.click('#report');
    await page.click('#confirm-ok');
    await until(() => reporting.length === 1, 'the report to leave the page', 15_000);
    await answered(page, `/api/incidents/${withPdq.id}`, () =>
      page.goto(`${url}#/incident/${withPdq.id}`),
    );
    await waitForText(page, 'detail-title', new RegExp(withPdq.id));
    const gets: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'GET') gets.push(new URL(request.url()).pathname);
    });
    // The audit log is the last thing the action's answer reloads (after the incident, if shown).
    await answered(page, '/api/audit', () => release(page, reportUrl, reporting));
    await waitForText(
      page,
      'action-status',
      new RegExp(`^Incident ${fresh.id}: Reported: tracking id .+ \\(test endpoint\\)`),
    );
    expect(gets).not.toContain(`/console/api/incidents/${fresh.id}`);
    expect(await page.locator('#detail-title').innerText()).toBe(`Incident ${withPdq.id}`);
    expect(await page.locator('#detail-fields').innerText()).toContain('/pdq');
    expect(await enabled(page)).toEqual(ALL_ON);
    expect(emulator.testReports).toHaveLength(1);
    expect(violations).toEqual([]);
  }, 60_000);

  it('Report: cancelled, nothing is sent; confirmed, one report reaches the test endpoint', async () => {
    const { url, store, fresh } = await serve(true);
    const page = await openIncident(browser.context, url, fresh.id);
    await page.click('#report');
    await page.locator('#confirm').waitFor({ state: 'visible' });
    const asked = await page.locator('#confirm-text').innerText();
    expect(asked).toContain(`incident ${fresh.id}`);
    expect(asked).toMatch(/NCMEC's TEST endpoint/);
    await page.click('#confirm-cancel');
    await waitForText(page, 'action-status', /Cancelled: nothing was sent/);
    expect(await page.locator('#confirm').isVisible()).toBe(false);
    expect(emulator.testReports).toHaveLength(0);
    expect(emulator.reports).toHaveLength(0);
    expect((await store.getRecord(fresh.id)).report.status).toBe('not-reported');

    await page.click('#report');
    await page.click('#confirm-ok');
    await waitForText(page, 'action-status', /Reported: tracking id .+ \(test endpoint\)/);
    expect(emulator.testReports).toHaveLength(1);
    expect(emulator.reports).toHaveLength(0);
  }, 60_000);

  it('Report after an attempt of unknown outcome: the page says NCMEC may have it, warns, and resends only once confirmed', async () => {
    const { url, store, fresh } = await serve(true);
    await store.markReported(fresh.id, {
      status: 'failed',
      isTest: true,
      outcomeUnknown: true,
      error: 'PhotoDNA did not answer within timeouts.callMs (300 ms).',
    });
    const page = await openIncident(browser.context, url, fresh.id);
    const fields = await page.locator('#detail-fields').innerText();
    expect(fields).toMatch(/failed \(test\); may have reached NCMEC/);
    expect(fields).toMatch(/NCMEC may have this report already: .*callMs/);
    await page.click('#report');
    await page.locator('#confirm').waitFor({ state: 'visible' });
    expect(await page.locator('#confirm-text').innerText()).toMatch(
      /NCMEC may already have the report .*may file it twice.* to the TEST endpoint\?/,
    );
    expect(await page.locator('#confirm-ok').innerText()).toBe('Send it again anyway');
    await page.click('#confirm-cancel');
    await waitForText(page, 'action-status', /Cancelled: nothing was sent/);
    expect(emulator.testReports).toHaveLength(0);

    // Before: the page asked as for a first report, and the server sent it again.
    await page.click('#report');
    await page.click('#confirm-ok');
    await waitForText(page, 'action-status', /Reported: tracking id .+ \(test endpoint\)/);
    expect(emulator.testReports).toHaveLength(1);
    expect((await store.getRecord(fresh.id)).report.status).toBe('reported');
  }, 60_000);

  it('Purge of the incident shown: its section goes, and what was done is said above the list', async () => {
    const { url, store, old } = await serve(true);
    const page = await openIncident(browser.context, url, old.id);
    await page.click('#purge');
    await page.click('#confirm-ok');
    await waitForText(page, 'list-status', new RegExp(`Incident ${old.id}: Purged: the evidence`));
    expect(await page.locator('#list-status').isVisible()).toBe(true);
    expect(await page.locator('#detail').isVisible()).toBe(false);
    await expect(store.getRecord(old.id)).rejects.toThrow(/unknown incident/);
  }, 60_000);

  it('Report against the real endpoint says so; Purge and an allow-listing Release ask too; Escape cancels', async () => {
    const { url, store, fresh, withPdq } = await serve(false);
    const page = await openIncident(browser.context, url, fresh.id);
    await page.click('#report');
    expect(await page.locator('#confirm-text').innerText()).toMatch(
      /real CyberTipline report and cannot be withdrawn/,
    );
    expect(await page.locator('#confirm-ok').innerText()).toBe('File the report with NCMEC');
    await page.keyboard.press('Escape');
    await waitForText(page, 'action-status', /Cancelled: nothing was sent/);

    await page.click('#purge');
    expect(await page.locator('#confirm-text').innerText()).toMatch(
      new RegExp(`Purge incident ${fresh.id}\\?`),
    );
    await page.click('#confirm-cancel');
    await waitForText(page, 'action-status', /Cancelled/);

    await page.goto(`${url}#/incident/${withPdq.id}`);
    await waitForText(page, 'detail-title', new RegExp(withPdq.id));
    await page.fill('#reason', 'a landscape');
    await page.click('#release');
    expect(await page.locator('#confirm-text').innerText()).toMatch(
      new RegExp(`Release incident ${withPdq.id} .*allow-list`),
    );
    await page.click('#confirm-cancel');
    await waitForText(page, 'action-status', /Cancelled/);

    expect(emulator.reports).toHaveLength(0);
    expect((await store.getRecord(fresh.id)).report.status).toBe('not-reported');
    expect((await store.getRecord(withPdq.id)).released).toBeUndefined();
  }, 60_000);

  it('a confirmation left open as the moderator goes Back to another incident or the list is cancelled', async () => {
    const { url, store, fresh, withPdq } = await serve(true);
    const page = await openIncident(browser.context, url, fresh.id);
    const violations = cspViolationsOf(page);
    await page.goto(`${url}#/incident/${withPdq.id}`);
    await waitForText(page, 'detail-title', new RegExp(withPdq.id));
    await page.click('#report');
    expect(await page.locator('#confirm-text').innerText()).toContain(`incident ${withPdq.id}`);
    // The browser's Back (a key or mouse button the modal dialog does not block): another
    // incident is shown; a confirm now would report the one no longer on screen.
    await page.goBack();
    await waitForText(page, 'detail-title', new RegExp(fresh.id));
    await page.locator('#confirm').waitFor({ state: 'hidden', timeout: 15_000 });
    await waitForText(page, 'action-status', /Cancelled: nothing was sent/);

    // Back to the list with the dialog open: it closes (the page is not left inert behind it).
    await page.click('#purge');
    await page.locator('#confirm').waitFor({ state: 'visible' });
    await page.goto(url);
    await page.locator('#detail').waitFor({ state: 'hidden' });
    expect(
      await page.evaluate(
        () => (document.getElementById('confirm') as unknown as { open: boolean }).open,
      ),
    ).toBe(false);
    await page.click(`a[data-id="${fresh.id}"]`);
    await waitForText(page, 'detail-title', new RegExp(fresh.id));

    expect(emulator.testReports).toHaveLength(0);
    expect((await store.getRecord(withPdq.id)).report.status).toBe('not-reported');
    expect(await store.getRecord(fresh.id)).toBeDefined();
    expect(violations).toEqual([]);
  }, 60_000);

  it('a stale CSRF token: says the session changed and to reload, retries nothing', async () => {
    const { url, store, fresh } = await serve(true);
    const page = await openIncident(browser.context, url, fresh.id);
    // A login in another tab (as its form sends it): the shared cookie names a new session.
    const other = await browser.context.newPage();
    cleanups.push(() => other.close());
    await other.goto(url);
    const status = await loginFromPage(other, TOKEN);
    expect(status).toBe(200);
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST') posts.push(request.url());
    });
    await page.click('#report');
    await page.click('#confirm-ok');
    await waitForText(page, 'action-status', /Nothing was done: this console's session changed/);
    expect(await page.locator('#action-status').innerText()).toMatch(/Reload the page/);
    expect(posts).toHaveLength(1); // the one refused: never sent again with a fresh token
    expect(emulator.testReports).toHaveLength(0);
    expect((await store.getRecord(fresh.id)).report.status).toBe('not-reported');
  }, 60_000);
});
