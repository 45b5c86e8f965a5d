/**
 * The TypeScript files of the packed-tarball test (`consumer-setup.test.ts`): what a user of
 * `photodna-guard` writes, type-checked in a fresh project under every module setting.
 */

/** Express without `@types/multer`: `req.file(s)` and `req.photodna` come from photodna-guard. */
const expressBody = `
const guard = photodnaGuard({
  apiKey: 'k',
  // The policy receives Express's Request (not unknown, not any).
  policy: (req) => (req.path.startsWith('/chat') || req.get('x-staff') ? 'flag' : 'block'),
});
photodnaGuard({
  apiKey: 'k',
  // @ts-expect-error: Express's Request has no such property, so req is not any
  policy: (req) => (req.notARequestProperty ? 'flag' : 'block'),
});
// The \`on\` shortcut's listeners get their event's type, as guard.on's do (report included).
photodnaGuard({
  apiKey: 'k',
  on: { scan: (e) => e.outcome.length, error: (e) => e.stage, report: (e) => e.ok },
});
const app = express();
app.use(guard);
app.post('/a', guard.single('a'), (req, res) => {
  const size: number | undefined = req.file?.size;
  const buffer: Buffer | undefined = req.file?.buffer;
  const files = req.files;
  const count = Array.isArray(files) ? files.length : Object.keys(files ?? {}).length;
  const result: PhotoDnaResult | undefined = req.photodna;
  res.json({ size, bytes: buffer?.length, count, status: result?.status });
});
const perRoute = guard.route({
  policy: (req) => (req.get('x-staff') ? 'flag' : 'block'),
  limits: { maxFileSize: 100_000 },
});
app.post('/b', perRoute.array('p', 3), (_req, res) => {
  res.end();
});
`;

/** Koa: the policy receives Koa's Context. */
const koaBody = `
const guard = photodnaGuard({
  apiKey: 'k',
  policy: (ctx) => (ctx.path === '/chat' && ctx.get('x-staff') ? 'flag' : 'block'),
});
photodnaGuard({
  apiKey: 'k',
  policy: (ctx) => {
    // @ts-expect-error: ctx.path is a string, so ctx is not any
    const path: number = ctx.path;
    return path ? 'flag' : 'block';
  },
});
new Koa().use(guard);
`;

/** With @types/multer as well: both declarations of req.file(s) merge. */
const withMulterBody = `
const guard = photodnaGuard({ apiKey: 'k' });
const app = express();
app.post('/a', multer({ dest: 'uploads/' }).single('a'), guard.scan(), (req, res) => {
  const file: Express.Multer.File | undefined = req.file;
  res.json({ path: file?.path, status: req.photodna?.status });
});
`;

/** The subpaths that need no framework, as a Next.js route handler or a worker uses them. */
const frameworkFree = `import { photodnaGuard } from 'photodna-guard/fetch';
import { startEmulator } from 'photodna-guard/emulator';
import { createFileQuarantineStore } from 'photodna-guard/quarantine';
import { createPdqMatcher } from 'photodna-guard/pdq';
import { createConsole } from 'photodna-guard/console';
import { openScanQueue } from 'photodna-guard/queue';
import { createGuardMetrics } from 'photodna-guard/metrics';
const guard = photodnaGuard({ apiKey: 'k', on: { match: (e) => e.file.sha256 } });
export async function POST(request: Request): Promise<Response> {
  const result = await guard.check(request, { ip: request.headers.get('x-real-ip') ?? undefined });
  if (result.response) return result.response;
  const photo = result.formData?.get('photo');
  return Response.json({ file: photo instanceof File, status: result.photodna?.status });
}
export const used = [startEmulator, createFileQuarantineStore, createPdqMatcher, createConsole, openScanQueue, createGuardMetrics];
`;

export const CONSUMER_FILES: Record<string, string> = {
  'framework-free.mts': frameworkFree,
  'express.mts': `import express from 'express';
import { photodnaGuard, type PhotoDnaResult } from 'photodna-guard';
${expressBody}`,
  'express.cts': `import express = require('express');
import { photodnaGuard, type PhotoDnaResult } from 'photodna-guard';
${expressBody}`,
  'koa.mts': `import Koa from 'koa';
import { photodnaGuard } from 'photodna-guard/koa';
${koaBody}`,
  'koa.cts': `import Koa = require('koa');
import { photodnaGuard } from 'photodna-guard/koa';
${koaBody}`,
  'with-multer.mts': `import express from 'express';
import multer from 'multer';
import { photodnaGuard } from 'photodna-guard';
${withMulterBody}`,
};

/** module / moduleResolution pairs users have, and which of the files each compiles. */
export const MODULE_SETTINGS = [
  { module: 'nodenext', moduleResolution: 'nodenext', files: ['mts', 'cts'] },
  { module: 'node16', moduleResolution: 'node16', files: ['mts', 'cts'] },
  { module: 'esnext', moduleResolution: 'bundler', files: ['mts'] },
  { module: 'preserve', moduleResolution: 'bundler', files: ['mts', 'cts'] },
] as const;
