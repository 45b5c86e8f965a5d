/**
 * The console's static assets: the scripts parse, the page has no inline script, style or event
 * handler and loads nothing from elsewhere, and nothing in them can show an image.
 */
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { APP_SCRIPT } from '../../src/console/assets/app-script.js';
import { LIVE_SCRIPT } from '../../src/console/assets/live-script.js';
import { PAGE } from '../../src/console/assets/page.js';
import { STYLE } from '../../src/console/assets/style.js';

describe('console assets', () => {
  it('the scripts are valid JavaScript', () => {
    expect(() => new Script(APP_SCRIPT)).not.toThrow();
    expect(() => new Script(LIVE_SCRIPT)).not.toThrow();
  });

  it('the page loads only its own script and style files', () => {
    const sources = [...PAGE.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(sources.sort()).toEqual(['app.js', 'console.css', 'live.js']);
    expect(PAGE).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(PAGE).not.toMatch(/<style|\sstyle=|\son[a-z]+=|javascript:/i);
  });

  it('nothing can display or fetch an image', () => {
    for (const text of [PAGE, APP_SCRIPT, LIVE_SCRIPT, STYLE]) {
      expect(text).not.toMatch(
        /<img|createElement\(['"](img|canvas|picture|video)|url\(|data:image|innerHTML|https?:\/\//i,
      );
    }
  });
});
