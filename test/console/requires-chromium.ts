import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { describe, it } from 'vitest';

/**
 * The browser tests drive Debian's Chromium (`apt-get install chromium`) with playwright-core:
 * never a downloaded browser. Locally, without it, they are skipped and say so; in CI
 * (`process.env.CI`, where `.ci/run` installs it) a missing browser fails.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);

const MISSING = `Chromium not found at ${CHROMIUM} (install it: apt-get install chromium, or set CHROMIUM_PATH)`;

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `describe` that runs only when Chromium is installed (and fails in CI when it is not). */
export function describeWithChromium(name: string, body: () => void): void {
  if (chromiumAvailable) {
    describe(name, body);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it('needs Chromium, which CI must provide', () => {
        throw new Error(`${MISSING}; .ci/run installs it in CI`);
      });
    });
    return;
  }
  console.warn(`[photodna-guard tests] skipped "${name}": ${MISSING}`);
  describe.skip(`${name} (skipped: ${MISSING})`, body);
}

/** A headless Chromium with a fresh profile directory, removed on close. */
export async function launchChromium(): Promise<{
  context: BrowserContext;
  close(): Promise<void>;
}> {
  const profile = mkdtempSync(join(tmpdir(), 'pdg-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
