import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The README is also the registry page, where a relative link is dead. */
describe('README links', () => {
  it('are absolute or in-page anchors', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
    expect(targets.length).toBeGreaterThan(5);
    expect(targets.filter((t) => !/^(https?:\/\/|#)/.test(t))).toEqual([]);
  });
});
