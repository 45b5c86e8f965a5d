import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Packs the package as npm would publish it, installs the tarball into a fresh project next to
 * express, and loads it the ways users do: `import`, `require()`, the subpaths and the bin.
 */
const root = resolve(import.meta.dirname, '../..');
let project = '';

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'pdg-consumer-'));
  const tarball =
    run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', project], root)
      .trim()
      .split('\n')
      .pop() ?? '';
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
  );
  run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(project, tarball),
      'express@5',
      'koa@3',
    ],
    project,
  );
}, 180_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('the packed package in a fresh project', () => {
  it('loads with import', () => {
    writeFileSync(
      join(project, 'esm.mjs'),
      `import express from 'express';
import { photodnaGuard, PhotoDnaClient, GuardError } from 'photodna-guard';
import { photodnaGuard as koaGuard } from 'photodna-guard/koa';
import { startEmulator } from 'photodna-guard/emulator';
import { photodnaGuard as fastifyPlugin } from 'photodna-guard/fastify';
import { photodnaGuard as fetchGuard } from 'photodna-guard/fetch';
import { photodnaGuard as honoGuard } from 'photodna-guard/hono';
const guard = photodnaGuard({ apiKey: 'k', baseUrl: 'http://127.0.0.1:9' });
const app = express();
app.use(guard);
console.log(typeof guard.single, typeof PhotoDnaClient, typeof GuardError, typeof koaGuard, typeof startEmulator);
// The framework subpaths load without their framework installed (they import its types only).
console.log(typeof fastifyPlugin, typeof fetchGuard, typeof honoGuard);
await guard.close();
`,
    );
    expect(run('node', ['esm.mjs'], project).trim()).toBe(
      'function function function function function\nfunction function function',
    );
  });

  it('loads with require()', () => {
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const express = require('express');
const { photodnaGuard, InvalidOptionsError } = require('photodna-guard');
const { startEmulator } = require('photodna-guard/emulator');
const guard = photodnaGuard({ apiKey: 'k', baseUrl: 'http://127.0.0.1:9' });
express().use(guard);
let named = '';
try { photodnaGuard({ apiKey: 'k', limits: { maxFilesize: 1 } }); } catch (e) { named = e instanceof InvalidOptionsError ? 'InvalidOptionsError' : String(e); }
console.log(typeof guard, typeof startEmulator, named);
guard.close();
`,
    );
    expect(run('node', ['cjs.cjs'], project).trim()).toBe('function function InvalidOptionsError');
  });

  it('loads photodna-guard/pdq without sharp, and says to install sharp when it is needed', () => {
    const fixtures = join(root, 'test/fixtures/pdq');
    writeFileSync(
      join(project, 'pdq.mjs'),
      `import { createPdqMatcher, PdqIndex, pdqHash } from 'photodna-guard/pdq';
const { hash } = await pdqHash(${JSON.stringify(join(fixtures, 'scene4-rgb24.bmp'))});
let message = '';
try { await pdqHash(${JSON.stringify(join(fixtures, 'scene1.png'))}); } catch (e) { message = e.message; }
console.log(typeof createPdqMatcher, typeof PdqIndex, hash, /install sharp/.test(message));
`,
    );
    expect(run('node', ['pdq.mjs'], project).trim()).toBe(
      'function function cb81ba95afd1b07519dc717c063cfba36a998e81ba15439d635918fa70e214f8 true',
    );
  });

  it('ships type declarations and the bin', () => {
    expect(
      run('node', ['-e', "console.log(require.resolve('photodna-guard/package.json'))"], project),
    ).toContain('node_modules');
    const help = run(join(project, 'node_modules/.bin/photodna-guard'), ['--help'], project);
    expect(help).toContain('emulator');
    const types = run(
      'node',
      ['-e', "const p=require('photodna-guard/package.json');console.log(p.exports['.'].types)"],
      project,
    );
    expect(types.trim()).toBe('./dist/index.d.ts');
  });
});
