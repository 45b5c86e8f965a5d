/**
 * The console in a real browser (Debian's Chromium through playwright-core): login refused, the
 * list, a report reaching the emulator, a release, a refused early purge, the audit chain and a
 * tamper found, keyboard-only use, the live panel, no CSP violation. Screenshots go to
 * test-output/console/.
 */
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { startEmulator } from '../../src/emulator/index.js';
import type { Emulator } from '../../src/emulator/types.js';
import { GuardEvents } from '../../src/events.js';
import { PDQ, seededStore, TOKEN } from './helpers.js';
import { describeWithChromium, launchChromium } from './requires-chromium.js';
import { cspViolationsOf, type ServedConsole, serveConsole } from './serve-console.js';

// The functions given to page.evaluate/waitForFunction run in the page; the DOM names they use:
interface PageElement {
  id: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  blur(): void;
}
declare const document: {
  activeElement: PageElement | null;
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): PageElement | null;
};

const SHOTS = fileURLToPath(new URL('../../test-output/console/', import.meta.url));
/** Directories live for the whole file (the steps share one store), removed at the end. */
const made: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pdg-console-'));
  made.push(dir);
  return dir;
};

describeWithChromium('the console in Chromium', () => {
  let emulator: Emulator;
  let console_: Console;
  let served: ServedConsole;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let url: string;
  let dir: string;
  let allowList: string;
  let seeded: Awaited<ReturnType<typeof seededStore>>;
  const events = new GuardEvents();
  let cspViolations: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    emulator = await startEmulator({ port: 0 });
    dir = await tempDir();
    allowList = join(await tempDir(), 'allow.txt');
    seeded = await seededStore(dir);
    console_ = createConsole({
      store: seeded.store,
      token: TOKEN,
      tokenActor: 'reviewer-1',
      events,
      queueDepth: () => 3,
      apiKey: 'test-key',
      baseUrl: emulator.url,
      reporter: {
        orgName: 'Example Forum',
        reporterName: 'Trust and Safety',
        reporterEmail: 'tns@example.com',
        ncmecUser: 'esp-user',
        ncmecPassword: 'esp-secret-pw',
        isTest: true,
      },
      allowList: { path: allowList },
    });
    served = await serveConsole(console_);
    url = served.url;
    browser = await launchChromium();
    page = await browser.context.newPage();
    cspViolations = cspViolationsOf(page);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await console_?.close();
    await emulator?.close();
    await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
  });

  const shot = (name: string) =>
    page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const textOf = (selector: string) => page.locator(selector).innerText();
  /** Waits until the element's text matches (Playwright polls; no fixed sleeps). */
  async function waitForText(selector: string, pattern: RegExp): Promise<void> {
    await page.waitForFunction(
      ([sel, source]) =>
        new RegExp(source as string).test(document.querySelector(sel as string)?.textContent ?? ''),
      [selector, pattern.source],
      { timeout: 15_000 },
    );
  }
  const activeId = () => page.evaluate(() => document.activeElement?.id ?? '');

  it('refuses a wrong token and shows no incident', async () => {
    await page.goto(url);
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#main').isVisible()).toBe(false);
    await page.fill('#token', 'not-the-token-at-all');
    await page.press('#token', 'Enter');
    await waitForText('#login-error', /Login refused: wrong token/);
    await shot('01-login-refused');
  });

  it('logs in and lists the incidents, marks test mode, never shows an image', async () => {
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await waitForText('#list-summary', /^3 incidents/);
    expect(await page.locator('#incident-rows tr').count()).toBe(3);
    expect(await textOf('#who')).toBe('Signed in as reviewer-1');
    expect(await page.locator('#test-mode').isVisible()).toBe(true);
    expect(await textOf('#report')).toBe('Report to NCMEC (TEST endpoint)');
    expect(await textOf('.no-images')).toMatch(/Images are never shown here/);
    expect(await page.locator('img, picture, canvas, video, object, embed, iframe').count()).toBe(
      0,
    );
    await shot('02-list');
  });

  it('filters by status', async () => {
    await page.selectOption('#f-status', 'reported');
    await page.click('#filters button[type=submit]');
    await waitForText('#list-summary', /^1 incident /);
    await page.selectOption('#f-status', 'all');
    await page.click('#filters button[type=submit]');
    await waitForText('#list-summary', /^3 incidents/);
  });

  it('keyboard only: Tab to an incident, Enter, Tab to the reason, release with Enter', async () => {
    await page.evaluate(() => document.activeElement?.blur());
    const target = seeded.withPdq.id;
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached =
        (await page.evaluate(() => document.activeElement?.getAttribute('data-id'))) === target;
    }
    expect(reached, 'Tab reaches the incident link').toBe(true);
    await page.keyboard.press('Enter');
    await waitForText('#detail-title', new RegExp(target));
    await page.waitForFunction(() => document.activeElement?.id === 'detail-title');
    await page.keyboard.press('Tab');
    expect(await activeId()).toBe('report');
    await page.keyboard.press('Tab');
    expect(await activeId()).toBe('reason');
    await page.keyboard.type('false positive: a landscape');
    await page.keyboard.press('Tab');
    expect(await activeId()).toBe('release');
    await shot('03-keyboard-release');
    await page.keyboard.press('Enter');
    // It allow-lists a PDQ hash: the page asks first, Cancel focused; Tab, Enter confirms.
    await page.locator('#confirm').waitFor({ state: 'visible' });
    expect(await textOf('#confirm-text')).toContain(`Release incident ${target}`);
    expect(await activeId()).toBe('confirm-cancel');
    await page.keyboard.press('Tab');
    expect(await activeId()).toBe('confirm-ok');
    await page.keyboard.press('Enter');
    await waitForText('#action-status', /Released as a false positive/);
    expect(await readFile(allowList, 'utf8')).toBe(`pdq ${PDQ}\n`);
    expect((await seeded.store.getRecord(target)).released?.reason).toBe(
      'false positive: a landscape',
    );
    await shot('04-released');
  });

  it('reports an incident to the emulator (test endpoint)', async () => {
    await page.goto(`${url}#/incident/${seeded.fresh.id}`);
    await waitForText('#detail-title', new RegExp(seeded.fresh.id));
    await page.click('#report');
    await page.click('#confirm-ok');
    await waitForText('#action-status', /Reported: tracking id .+ \(test endpoint\)/);
    expect(emulator.testReports).toHaveLength(1);
    expect(emulator.reports).toHaveLength(0);
    expect((await seeded.store.getRecord(seeded.fresh.id)).report.status).toBe('reported');
    await shot('05-reported');
  });

  it('refuses an early purge', async () => {
    await page.click('#purge');
    await page.click('#confirm-ok');
    await waitForText('#action-status', /Refused: purge refused: preserved until/);
    await seeded.store.getRecord(seeded.fresh.id); // still there
    await shot('06-purge-refused');
  });

  it('shows the audit chain, and a tamper once the file is edited', async () => {
    await page.click('#audit-verify');
    await waitForText('#audit-status', /Chain intact: 3 entries/);
    expect(await page.locator('#audit-entries li').count()).toBe(3);
    expect(await textOf('#audit-entries')).toMatch(/reviewer-1 · purge \(refused\/failed\)/);
    const path = join(dir, 'audit.log');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('false positive: a landscape', 'nothing to see'));
    await page.click('#audit-verify');
    await waitForText('#audit-status', /TAMPERED: line 1/);
    await shot('07-audit-tampered');
    await writeFile(path, text);
  });

  it('live: scans, matches and errors stream in, without file names; the chart and health update', async () => {
    await page.goto(url);
    await waitForText('#list-summary', /incidents/);
    await page.locator('#live-on').waitFor({ state: 'visible' });
    const file = {
      field: 'avatar',
      originalname: 'secret-name.png',
      mimetype: 'image/png' as const,
      size: 1234,
      width: 200,
      height: 200,
      sha256: 'a'.repeat(64),
    };
    // The stream opens asynchronously: emit until the first scan shows, polled up to a generous
    // deadline rather than a count (the test once ran out of time with both cores busy).
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline) {
      events.emit('scan', {
        file,
        outcome: 'clean',
        durationMs: 12.3,
        cached: false,
        route: '/upload',
      });
      if ((await page.locator('#events li').count()) > 0) break;
      await page.waitForTimeout(100);
    }
    events.emit('error', {
      error: new Error('boom /secret/path'),
      stage: 'scan',
      reason: 'timeout',
    });
    await waitForText('#events', /ERROR scan Error \(timeout\)/);
    await waitForText('#events', /scan clean image\/png 1234 B/);
    await waitForText('#health', /Last error.*scan · Error \(timeout\)/s);
    await page.waitForFunction(
      () => (document.getElementById('calls-line')?.getAttribute('points') ?? '') !== '',
    );
    await waitForText('#chart-now', /queue 3/);
    const shown = await textOf('#live');
    expect(shown).not.toContain('secret-name');
    expect(shown).not.toContain('/secret/path');
    await shot('08-live');
  }, 60_000);

  it('shows the live panel even when live.js arrives after the session answer', async () => {
    // Deferred scripts run in order, but the session request app.js makes can be answered while
    // live.js is still loading: hold live.js back until the session answered (or 1.5 s passed,
    // as it does when app.js rightly waits for every script before asking).
    const late = await browser.context.newPage();
    try {
      let answered!: () => void;
      const sessionAnswered = new Promise<void>((resolve) => {
        answered = resolve;
      });
      late.on('response', (response) => {
        if (response.url().endsWith('/api/session')) answered();
      });
      await late.route('**/live.js', async (route) => {
        await Promise.race([sessionAnswered, new Promise((r) => setTimeout(r, 1_500))]);
        await route.continue();
      });
      await late.goto(url);
      await late.locator('#live-on').waitFor({ state: 'visible', timeout: 15_000 });
    } finally {
      await late.close();
    }
  });

  it('caused no CSP violation', () => {
    expect(cspViolations).toEqual([]);
  });
});
