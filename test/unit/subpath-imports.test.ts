import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The root entry's module graph (what `photodna-guard` and its types load) never reaches fastify
 * or hono: those live behind the `photodna-guard/fastify` and `photodna-guard/hono` subpaths.
 */
const src = resolve(import.meta.dirname, '../../src');
const IMPORT = /(?:import|export)\s[^'"]*?from\s*'([^']+)'/g;

function graph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      if (!spec) continue;
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(join(src, entry));
  return { files, packages };
}

describe('subpath exports', () => {
  it.each(['index.ts', 'koa.ts', 'fetch.ts'])('%s never imports fastify or hono', (entry) => {
    const { packages } = graph(entry);
    expect([...packages].filter((p) => /^(fastify|hono|@fastify\/|@hono\/)/.test(p))).toEqual([]);
  });

  it('the fastify and hono subpaths import their framework for types only', () => {
    for (const entry of ['fastify.ts', 'hono.ts']) {
      expect(graph(entry).packages).toContain(entry.replace('.ts', ''));
      for (const file of graph(entry).files) {
        const text = readFileSync(file, 'utf8');
        expect(text).not.toMatch(/import\s+(?!type\b)[^'"]*from\s*'(fastify|hono)'/);
      }
    }
  });
});
