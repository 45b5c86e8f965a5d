import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');

/** A heading's anchor as GitHub (and the npm registry) makes it: github-slugger's rule. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of the README's headings (outside code blocks), duplicates numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1] ?? '');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

/** The README is also the registry page, where a relative link is dead. */
describe('README links', () => {
  it('are absolute or in-page anchors', () => {
    expect(targets.length).toBeGreaterThan(5);
    expect(targets.filter((t) => !/^(https?:\/\/|#)/.test(t))).toEqual([]);
  });

  it('point at headings that exist', () => {
    const known = anchors(readme);
    expect(slug('Web `Request` handlers: Next.js, Remix, Bun, Deno')).toBe(
      'web-request-handlers-nextjs-remix-bun-deno',
    );
    const dead = targets.filter((t) => t.startsWith('#') && !known.has(t.slice(1)));
    expect(dead).toEqual([]);
  });
});
