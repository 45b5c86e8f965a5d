import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ErrorEvent, photodnaGuard, type ScanEvent } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { adapters, startPerTest } from '../helpers/adapters.js';
import { useEmulator } from '../helpers/emulated.js';
import { until } from '../helpers/until.js';

/**
 * The guard's own enqueue of a deferred upload checks the job's `uploader` like any caller's
 * (`uploaderSchema`). Nothing a real request brings may make that check refuse it: the upload
 * would be answered 503 (or, under failMode 'open', passed on unchecked with no job queued at
 * all) instead of deferred. An uploader behind a trusted proxy writes the derived address (an
 * IPv6 one with a zone id of any length is an IP address to `net.isIP`), and a host's route
 * pattern (a list of paths, a long RegExp) can be longer than any bound.
 */

const emu = useEmulator({ rateLimit: false });
const root = mkdtempSync(join(tmpdir(), 'pdg-uploader-bounds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dir = (name: string) => join(root, `${name}-${n++}`);
let seed = 71_000;

/** An IP address to `net.isIP`, as long as the uploader makes it: a zone id is any name. */
const ZONED = `fe80::1%${'a'.repeat(300)}`;

interface Answer {
  status: number;
  body: { photodna?: { status: string; files: Array<{ scanId?: string }> } };
}

describe.each(adapters.filter((a) => a.name === 'express5' || a.name === 'koa3'))(
  '$name behind a trusted proxy',
  (adapter) => {
    const start = startPerTest(adapter);

    it.each(['closed', 'open'] as const)(
      'defers an upload whose forwarded address is a long zoned IPv6 one (failMode %s)',
      async (failMode) => {
        const server = await start(
          emu.options({ defer: true, failMode, queue: { dir: dir('queue') } }),
          [{ path: '/upload' }],
          { global: true, trustProxy: true },
        );
        const scans: ScanEvent[] = [];
        const errors: ErrorEvent[] = [];
        server.guard.on('scan', (e) => scans.push(e)).on('error', (e) => errors.push(e));
        const res = (await request(server.url)
          .post('/upload')
          .set('x-forwarded-for', ZONED)
          .attach('f', png(200, 200, seed++), 'a.png')) as Answer;
        expect(errors.map((e) => e.error.message)).toEqual([]);
        expect(res.status).toBe(200);
        expect(res.body.photodna?.status).toBe('pending');
        const scanId = res.body.photodna?.files[0]?.scanId;
        expect(scanId).toEqual(expect.any(String));
        await until(() => scans.some((s) => s.scanId === scanId), 'the deferred scan');
      },
    );
  },
);

describe('express5: a route pattern longer than the bound', () => {
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(closing.splice(0).map((close) => close()));
  });

  it('defers the upload, its pattern cut', async () => {
    const guard = photodnaGuard(emu.options({ defer: true, queue: { dir: dir('queue') } }));
    const paths = Array.from({ length: 120 }, (_, i) => `/albums/${i}/photos/:photoId`);
    const app = express();
    app.post(paths, guard.single('f'), (req, res) => {
      res.json({ photodna: req.photodna });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closing.push(async () => {
      await new Promise((resolve) => server.close(resolve));
      await guard.close();
    });
    const scans: ScanEvent[] = [];
    guard.on('scan', (e) => scans.push(e));
    const { port } = server.address() as AddressInfo;
    const res = (await request(`http://127.0.0.1:${port}`)
      .post('/albums/7/photos/p1')
      .attach('f', png(200, 200, seed++), 'a.png')) as Answer;
    expect(res.status).toBe(200);
    expect(res.body.photodna?.status).toBe('pending');
    const scanId = res.body.photodna?.files[0]?.scanId;
    await until(() => scans.some((s) => s.scanId === scanId), 'the deferred scan');
    const scan = scans.find((s) => s.scanId === scanId) as ScanEvent;
    expect(scan.routePattern).toBe(paths.join(',').slice(0, 1_024));
  });
});
