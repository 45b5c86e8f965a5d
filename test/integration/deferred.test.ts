import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { GuardOptions, MatchEvent, ScanEvent } from '../../src/index.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import { png } from '../fixtures/images.js';
import { type Adapter, adapters, type Running } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';
import { until } from '../helpers/until.js';

// A disk entry's host parser saves to the OS temp directory: nothing refused may stay there.
expectNoTempFiles();

/**
 * Issue 12, in the request path: `defer` routes answer at once with `status: 'pending'` and a
 * `scanId` per file, the guard's in-process worker scans the embedded queue later and emits the
 * same events; files that pass unchecked under failMode 'open' are queued, not forgotten.
 */

const emu = useEmulator({ rateLimit: false });
const root = mkdtempSync(join(tmpdir(), 'pdg-deferred-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seed = 61_000;
const fresh = () => png(200, 200, seed++);
let n = 0;
const dir = (name: string) => join(root, `${name}-${n++}`);

interface Pending {
  status: number;
  body: { photodna: { status: string; files: Array<{ scanId?: string; isMatch: boolean }> } };
}

describe.each([...adapters, ...scanAdapters])('$name', (adapter: Adapter) => {
  const running: Running[] = [];
  afterEach(async () => {
    emu.emulator.faults.clear();
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  async function start(extra: GuardOptions, routes = [{ path: '/upload' }]) {
    const quarantine = dir('quarantine');
    const server = await adapter.start(
      emu.options({ queue: { dir: dir('queue') }, quarantine: { dir: quarantine }, ...extra }),
      routes,
      { global: true },
    );
    running.push(server);
    const scans: ScanEvent[] = [];
    const matches: MatchEvent[] = [];
    server.guard.on('scan', (e) => scans.push(e)).on('match', (e) => matches.push(e));
    return { server, scans, matches, quarantine };
  }

  it('defer: true answers at once as pending; the worker scans later and quarantines a match', async () => {
    const { server, scans, matches, quarantine } = await start({
      defer: true,
      policy: 'quarantine',
    });
    const clean = (await request(server.url)
      .post('/upload')
      .attach('f', fresh(), 'a.png')) as Pending;
    expect(clean.status).toBe(200);
    expect(clean.body.photodna.status).toBe('pending');
    const cleanId = clean.body.photodna.files[0]?.scanId as string;
    expect(cleanId).toEqual(expect.any(String));
    const matched = (await request(server.url)
      .post('/upload')
      .attach('f', knownImage(), 'b.png')) as Pending;
    // The upload passed (the handler ran): the host holds it until the scan event.
    expect(matched.status).toBe(200);
    expect(server.log.runs).toBe(2);
    const matchId = matched.body.photodna.files[0]?.scanId as string;
    await until(() => scans.length === 2 && matches.length === 1, 'both deferred scans');
    expect(scans.map((s) => [s.scanId, s.outcome, s.deferred]).sort()).toEqual(
      [
        [cleanId, 'clean', true],
        [matchId, 'match', true],
      ].sort(),
    );
    expect(matches[0]).toMatchObject({
      deferred: true,
      scanId: matchId,
      route: '/upload',
      method: 'POST',
      policy: 'quarantine',
    });
    const records = await createFileQuarantineStore({ dir: quarantine }).list();
    expect(records.map((r) => r.id)).toEqual([matches[0]?.quarantineId]);
  });

  it("failMode 'open': a file that passed unchecked is queued and scanned once the service answers", async () => {
    const { server, scans } = await start({
      failMode: 'open',
      client: { retry: { maxAttempts: 1 } },
    });
    emu.emulator.faults.push({ type: 'status', status: 500 });
    const res = (await request(server.url)
      .post('/upload')
      .attach('f', fresh(), 'c.png')) as Pending;
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('unchecked');
    const scanId = res.body.photodna.files[0]?.scanId as string;
    expect(scanId).toEqual(expect.any(String));
    await until(() => scans.some((s) => s.scanId === scanId), 'the deferred scan');
    expect(scans.find((s) => s.scanId === scanId)).toMatchObject({
      outcome: 'clean',
      deferred: true,
    });
  });

  it("defer: { when: 'overflow' } queues what the rate limiter has no room for instead of 503", async () => {
    const { server, scans } = await start({
      defer: { when: 'overflow' },
      rateLimit: { perSecond: 2, maxQueue: 1 },
    });
    const answers = (await Promise.all(
      [1, 2, 3, 4].map(() => request(server.url).post('/upload').attach('f', fresh(), 'd.png')),
    )) as Pending[];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    const pending = answers.filter((a) => a.body.photodna.status === 'pending');
    expect(pending.length).toBeGreaterThan(0);
    const ids = pending.map((a) => a.body.photodna.files[0]?.scanId as string);
    await until(() => ids.every((id) => scans.some((s) => s.scanId === id)), 'the overflow scans');
  });

  it('the same image deferred twice costs one call (the guard’s dedup cache)', async () => {
    const { server, scans } = await start({ defer: true });
    const key = emu.emulator.calls.length;
    const image = fresh();
    const first = (await request(server.url)
      .post('/upload')
      .attach('f', image, 'a.png')) as Pending;
    const second = (await request(server.url)
      .post('/upload')
      .attach('f', image, 'b.png')) as Pending;
    const ids = [first, second].map((a) => a.body.photodna.files[0]?.scanId as string);
    expect(new Set(ids).size).toBe(2);
    await until(() => ids.every((id) => scans.some((s) => s.scanId === id)), 'both jobs');
    expect(emu.emulator.calls.length - key).toBe(1);
    // One job asked the service; the other was answered by the cache (or shared its call).
    const cachedOf = (id: string) => scans.find((s) => s.scanId === id)?.cached;
    expect(ids.map(cachedOf).sort()).toEqual([false, true]);
  });

  it("'defer' without a 'queue' is refused when the guard is made", async () => {
    await expect(
      adapter.start(emu.options({ defer: true }), [{ path: '/upload' }], { global: true }),
    ).rejects.toThrow(/queue/);
  });
});
