import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_FILES, MODULE_SETTINGS } from './consumer-types.js';

/**
 * Packs the package as npm would publish it, installs the tarball into a fresh project (in its
 * own temp directory, never the repository's node_modules) next to express and koa, and loads it
 * the ways users do: `import`, `require()`, the subpaths, the bin, and TypeScript under every
 * module setting (`consumer-types.ts`).
 */
const root = resolve(import.meta.dirname, '../..');
let project = '';
let tarball = '';

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'pdg-consumer-'));
  tarball = join(
    project,
    run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', project], root)
      .trim()
      .split('\n')
      .pop() ?? '',
  );
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
      tarball,
      'express@5',
      'koa@3',
      // For the type checks: what a TypeScript user of Express/Koa has (never @types/multer
      // except where a file imports multer itself).
      '@types/express@5',
      '@types/koa@3',
      '@types/node@20',
      '@types/multer@2',
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

  it('loads photodna-guard/queue, /metrics and /console with import and require()', () => {
    // A few of the pinned exports (test/unit/exports.test.ts) of each subpath.
    const names = {
      'photodna-guard/queue': ['createScanWorker', 'openScanQueue', 'incidentIdOf'],
      'photodna-guard/metrics': ['createGuardMetrics'],
      'photodna-guard/console': ['createConsole', 'createAuditLog', 'releaseIncident'],
    };
    const entries = Object.entries(names);
    const report = (module: (i: number, name: string) => string) =>
      entries
        .map(
          ([name, exports], i) =>
            `console.log(${JSON.stringify(name)}, ${JSON.stringify(exports)}.map((e) => typeof ${module(i, name)}[e]).join(' '));`,
        )
        .join('\n');
    // ESM: static `import * as`; CommonJS: `require()`.
    const imports = entries.map(([name], i) => `import * as m${i} from '${name}';`).join('\n');
    writeFileSync(join(project, 'subpaths.mjs'), `${imports}\n${report((i) => `m${i}`)}\n`);
    writeFileSync(join(project, 'subpaths.cjs'), `${report((_, name) => `require('${name}')`)}\n`);
    const expected = [
      'photodna-guard/queue function function function',
      'photodna-guard/metrics function',
      'photodna-guard/console function function function',
    ].join('\n');
    expect(run('node', ['subpaths.mjs'], project).trim()).toBe(expected);
    expect(run('node', ['subpaths.cjs'], project).trim()).toBe(expected);
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

  it('ships what the build made and the package documents, and no source maps', () => {
    const installed = join(project, 'node_modules/photodna-guard');
    const files = readdirSync(installed, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => relative(installed, join(entry.parentPath, entry.name)))
      .filter((file) => !file.startsWith('node_modules/')); // its own dependencies, nested by npm
    const top = new Set(['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']);
    expect(files.filter((file) => !top.has(file) && !file.startsWith('dist/'))).toEqual([]);
    // Maps would name src/*.ts, which is not shipped.
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
    const mapped = files.filter(
      (file) =>
        /\.(js|ts)$/.test(file) &&
        readFileSync(join(installed, file), 'utf8').includes('//# sourceMappingURL='),
    );
    expect(mapped).toEqual([]);
  });

  it('ships type declarations and the bin', () => {
    expect(
      run('node', ['-e', "console.log(require.resolve('photodna-guard/package.json'))"], project),
    ).toContain('node_modules');
    const help = run(join(project, 'node_modules/.bin/photodna-guard'), ['--help'], project);
    expect(help).toContain('emulator');
    const version = run(join(project, 'node_modules/.bin/photodna-guard'), ['--version'], project);
    expect(version.trim()).toBe(
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
    );
    const types = run(
      'node',
      [
        '-e',
        "const p=require('photodna-guard/package.json');console.log(p.exports['.'].import.types)",
      ],
      project,
    );
    expect(types.trim()).toBe('./dist/index.d.ts');
  });
});

const tsc = resolve(root, 'node_modules/typescript/bin/tsc');

/** Runs tsc (strict) in `cwd` on `CONSUMER_FILES` entries; its errors, or '' when it passes. */
function typecheck(
  files: string[],
  setting: (typeof MODULE_SETTINGS)[number],
  skipLibCheck: boolean,
  cwd = project,
) {
  const dir = join(cwd, 'ts');
  mkdirSync(dir, { recursive: true });
  for (const name of files) writeFileSync(join(dir, name), CONSUMER_FILES[name] ?? '');
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--types', 'node'];
  args.push('--module', setting.module, '--moduleResolution', setting.moduleResolution);
  if (skipLibCheck) args.push('--skipLibCheck');
  try {
    run('node', [...args, ...files.map((name) => join(dir, name))], cwd);
    return '';
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}

describe('TypeScript in a fresh project', () => {
  // One run per setting, over the Express and Koa files (skipLibCheck: @types/koa itself does
  // not check against the content-disposition that koa 3 installs); the @ts-expect-error lines
  // in the files fail if a request type degrades to any.
  for (const setting of MODULE_SETTINGS) {
    const label = `${setting.module}/${setting.moduleResolution}`;
    const files = setting.files.flatMap((kind) => [`express.${kind}`, `koa.${kind}`]);
    it(`${label}: ${files.join(', ')}`, () => {
      expect(typecheck(files, setting, true)).toBe('');
    }, 180_000);
  }

  // Our own declarations in full (no skipLibCheck), merged with @types/multer's (the project
  // has it; without it: the bare project below).
  it('nodenext, no skipLibCheck: req.file(s) merged with @types/multer', () => {
    expect(typecheck(['express.mts', 'with-multer.mts'], MODULE_SETTINGS[0], false)).toBe('');
  }, 180_000);
});

/**
 * Declarations that need nothing the user did not install: a project with only the package and
 * `@types/node` (no framework, no `@types/multer`), type-checked in full (no skipLibCheck), as a
 * Next.js app using `photodna-guard/fetch` is; then `@types/express` alone for the root entry.
 * (Both once failed: the declarations imported `multer`, which has no types of its own, and the
 * options' declarations imported the root entry, whose Express types `/fetch` users lack.)
 */
describe('TypeScript in a project with no framework or multer types', () => {
  let bare = '';
  beforeAll(() => {
    bare = mkdtempSync(join(tmpdir(), 'pdg-consumer-bare-'));
    writeFileSync(
      join(bare, 'package.json'),
      JSON.stringify({ name: 'consumer-bare', version: '1.0.0', private: true }),
    );
    const install = ['install', '--no-audit', '--no-fund', '--prefer-offline'];
    run('npm', [...install, tarball, '@types/node@20'], bare);
  }, 180_000);

  afterAll(() => {
    if (bare) rmSync(bare, { recursive: true, force: true });
  });

  // One module setting: what a declaration imports is found (or not) alike under all of them.
  it('every framework-free subpath, no skipLibCheck', () => {
    expect(typecheck(['framework-free.mts'], MODULE_SETTINGS[1], false, bare)).toBe('');
  }, 180_000);

  it('the root entry with @types/express and without @types/multer, no skipLibCheck', () => {
    run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '@types/express@5'],
      bare,
    );
    expect(typecheck(['express.mts'], MODULE_SETTINGS[1], false, bare)).toBe('');
  }, 180_000);
});
