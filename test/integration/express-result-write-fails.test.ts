import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import multer from 'multer';
import request from 'supertest';
import { afterAll, expect, it, vi } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';

// The disk fails (EIO) when the guard writes back a file it cut to the checked bytes.
vi.mock('node:fs/promises', async (original) => ({
  ...(await original<typeof import('node:fs/promises')>()),
  writeFile: () => Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })),
}));

const dest = mkdtempSync(join(tmpdir(), 'pdg-write-fails-'));
afterAll(() => rmSync(dest, { recursive: true, force: true }));

it('a request whose checked bytes could not be written back never reads as passed', async () => {
  const guard = photodnaGuard({ matcher: new RecordingMatcher() });
  const app = express();
  let handlerRan = false;
  app.post('/upload', multer({ dest }).single('f'), guard.scan(), (_req, res) => {
    handlerRan = true;
    res.json({});
  });
  app.use(((error, req, res, _next) => {
    res.status(500).json({ error: String(error), photodna: req.photodna ?? null });
  }) as express.ErrorRequestHandler);
  // Bytes after the PNG's end: 'strip' cuts them, so the disk file must be rewritten.
  const trailing = Buffer.concat([png(), Buffer.from('bytes nobody checked')]);
  const res = await request(app).post('/upload').attach('f', trailing, 'a.png');
  await guard.close();
  expect(res.status).toBe(500);
  expect(res.body.error).toMatch(/EIO/);
  expect(res.body.photodna).toBeNull();
  expect(handlerRan).toBe(false);
  expect(readdirSync(dest)).toEqual([]); // the unchecked file is not left on disk
});
