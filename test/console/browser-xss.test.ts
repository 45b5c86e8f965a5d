/**
 * The console in a real browser (Debian's Chromium through playwright-core) shows what uploaders
 * control as text: a route, a field name, a User-Agent, match flag texts, a tracking id, a
 * reviewer's reason and live events each carrying markup. No script runs, no element is made
 * from them, the markup reads as written, and the page's CSP never had to block anything. Bidi
 * overrides, invisible format and control characters in them show as `\uXXXX` escapes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Console, createConsole } from '../../src/console/index.js';
import { GuardEvents } from '../../src/events.js';
import { createFileQuarantineStore } from '../../src/quarantine/fs-store.js';
import type { ImageMimeType } from '../../src/types.js';
import { makeIncident } from '../quarantine/helpers.js';
import { TOKEN } from './helpers.js';
import { describeWithChromium, launchChromium } from './requires-chromium.js';
import { cspViolationsOf, type ServedConsole, serveConsole } from './serve-console.js';

// The page's globals the functions given to page.evaluate/waitForFunction read.
declare const window: { __pwned?: unknown };
declare const document: {
  querySelectorAll(selector: string): { length: number };
  getElementById(id: string): { textContent: string | null } | null;
};

/** Markup that runs a script or makes an element wherever it is parsed as HTML. */
const xss = (where: string) =>
  `<img src=x onerror="window.__pwned='${where}'"><b data-pwned>${where}</b>` +
  `<svg onload="window.__pwned='${where}'"></svg><script>window.__pwned='${where}'</script>`;

describeWithChromium('uploader-controlled text in the console (Chromium)', () => {
  let dir: string;
  let reviewConsole: Console;
  let served: ServedConsole;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let url: string;
  let id: string;
  let spoofId: string;
  const events = new GuardEvents();
  let cspViolations: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pdg-console-xss-'));
    const store = createFileQuarantineStore({ dir });
    const { incident, bytes } = makeIncident({
      route: `/upload/${xss('route')}`,
      userAgent: xss('user-agent'),
      trackingId: xss('tracking-id'),
      matchFlags: [
        { source: xss('source'), violations: [xss('violation')], matchId: xss('match-id') },
      ],
    });
    incident.file = {
      ...incident.file,
      field: xss('field'),
      originalname: xss('originalname'),
      mimetype: xss('mimetype') as ImageMimeType,
    };
    await store.put(incident, bytes);
    id = incident.id;
    const spoof = makeIncident(
      { route: '/u/evil\u202egnp.exe', userAgent: 'agent\u200f/1\u0007', method: 'POST' },
      2,
    );
    spoof.incident.file = { ...spoof.incident.file, field: 'pho\u2066to' };
    await store.put(spoof.incident, spoof.bytes);
    spoofId = spoof.incident.id;
    reviewConsole = createConsole({ store, token: TOKEN, tokenActor: xss('actor'), events });
    served = await serveConsole(reviewConsole);
    url = served.url;
    browser = await launchChromium();
    page = await browser.context.newPage();
    cspViolations = cspViolationsOf(page);
    await page.goto(url);
    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await page.locator('#incident-rows tr').first().waitFor({ state: 'visible', timeout: 15_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await reviewConsole?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const pwned = () => page.evaluate(() => window.__pwned ?? null);
  const madeElements = () =>
    page.evaluate(
      () =>
        document.querySelectorAll('[data-pwned], img, script:not([src]), svg:not(#chart)').length,
    );

  it('the list, the detail and the audit log show the markup as text', async () => {
    await page.goto(`${url}#/incident/${id}`);
    await page.locator('#detail').waitFor({ state: 'visible', timeout: 15_000 });
    await page.fill('#reason', xss('reason'));
    await page.click('#release');
    await page.locator('#audit-entries li').waitFor({ state: 'visible', timeout: 15_000 });
    await page.waitForFunction(
      () =>
        /Released as a false positive/.test(
          document.getElementById('action-status')?.textContent ?? '',
        ),
      undefined,
      { timeout: 15_000 },
    );
    const shown = await page.locator('#main').innerText();
    for (const where of ['route', 'user-agent', 'tracking-id', 'source', 'violation', 'field']) {
      expect(shown).toContain(xss(where));
    }
    expect(shown).toContain(xss('reason')); // the detail and the audit entry
    expect(await page.locator('#who').innerText()).toContain(xss('actor'));
    expect(shown).not.toContain('originalname'); // never shown at all
    expect(await madeElements()).toBe(0);
    expect(await pwned()).toBeNull();
  });

  it('the live panel shows the markup of events as text', async () => {
    await page.locator('#live-on').waitFor({ state: 'visible' });
    const route = `/live/${xss('live-route')}`;
    // The stream opens asynchronously: emit until the first event shows, up to a deadline.
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline && (await page.locator('#events li').count()) === 0) {
      events.emit('reject', { code: 'FILE_TOO_LARGE', status: 413, route, method: 'POST', ip: '' });
      await page.waitForTimeout(100);
    }
    const error = Object.assign(new Error('x'), { code: xss('error-code') });
    events.emit('error', { error, stage: 'scan', route });
    await page.waitForFunction(
      () => /error-code/.test(document.getElementById('health')?.textContent ?? ''),
      undefined,
      { timeout: 15_000 },
    );
    const shown = await page.locator('#live').innerText();
    expect(shown).toContain(route);
    expect(shown).toContain(xss('error-code'));
    expect(await madeElements()).toBe(0);
    expect(await pwned()).toBeNull();
  }, 60_000);

  it('marks bidi overrides, invisible and control characters as the CLI does; route and field apart', async () => {
    await page.goto(`${url}#/incident/${spoofId}`);
    await page.waitForFunction(
      (wanted) => (document.getElementById('detail-title')?.textContent ?? '').includes(wanted),
      spoofId,
      { timeout: 15_000 },
    );
    const value = (name: string) =>
      page.locator('#detail-fields dt', { hasText: new RegExp(`^${name}$`) }).locator('+ dd');
    expect(await value('Route').innerText()).toBe(String.raw`POST /u/evil\u202egnp.exe`);
    expect(await value('Form field').innerText()).toBe(String.raw`pho\u2066to`);
    expect(await value('User agent').innerText()).toBe(String.raw`agent\u200f/1\u0007`);
    expect(await page.locator('#incident-rows').innerText()).toContain(
      String.raw`/u/evil\u202egnp.exe`,
    );
    const route = '/live/evil\u202egnp.exe';
    const before = await page.locator('#events li').count();
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline && (await page.locator('#events li').count()) === before) {
      events.emit('reject', { code: 'FILE_TOO_LARGE', status: 413, route, method: 'POST', ip: '' });
      await page.waitForTimeout(100);
    }
    expect(await page.locator('#events li').first().innerText()).toContain(
      String.raw`/live/evil\u202egnp.exe`,
    );
    const shown = await page.locator('#main').innerText();
    for (const raw of ['\u202e', '\u2066', '\u200f', '\u0007']) expect(shown).not.toContain(raw);
  }, 60_000);

  it('never had the CSP block an injected script or image', () => {
    expect(cspViolations).toEqual([]);
  });
});
