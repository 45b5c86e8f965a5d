/**
 * Two guards in one process (two Express apps on loopback, real HTTP, the emulator): each one's
 * metrics count its own uploads ended unanswered and its own PhotoDNA calls, never the other's,
 * though both come from process-wide diagnostics channels; a scan worker's count its own calls.
 * A `PhotoDnaClient` the app shares between two guards on purpose is counted by both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uploadBudget } from '../../src/core/upload-budget.js';
import { type GuardOptions, PhotoDnaClient, photodnaGuard } from '../../src/index.js';
import { createGuardMetrics } from '../../src/metrics/index.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import { png } from '../fixtures/images.js';
import { useEmulator } from '../helpers/emulated.js';
import { listen } from '../helpers/express-app.js';
import { exchange } from '../helpers/raw-upload.js';
import { head, KIB, partOf, stall, upload } from '../helpers/stalled-upload.js';
import { until } from '../helpers/until.js';

const service = useEmulator();
/** Short, so that the stalled upload ends quickly; the deadlines waited on are generous. */
const IDLE = 300;
const MATCH_200 = 'photodna_guard_calls_total{operation="match",status="200"}';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pdg-metrics-per-guard-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await until(() => uploadBudget.held === 0, 'the budget given back');
});

/** A guard on its own Express app: `POST <path>` with `limits.bodyIdleMs`, metrics started. */
async function serve(path: string, bodyIdleMs: number, options: GuardOptions = {}) {
  const guard = photodnaGuard(service.options({ cache: false, ...options }));
  const app = express();
  app.post(path, guard.route({ limits: { bodyIdleMs } }).single('f'), (_req, res) => {
    res.json({});
  });
  const server = await listen(app);
  closers.push(async () => {
    await server.close();
    await guard.close();
  });
  await guard.metrics(); // counted from the first call on
  return { guard, port: server.port, path };
}

type Served = Awaited<ReturnType<typeof serve>>;

/** The `uploads_ended_total` series of a text exposition: `reason route` to its value. */
function endedSeries(text: string): Array<[string, number]> {
  const line = /^photodna_guard_uploads_ended_total\{reason="(\w+)",route="([^"]*)"\} (\d+)$/gm;
  return [...text.matchAll(line)].map(([, reason, route, n]) => [`${reason} ${route}`, Number(n)]);
}

/** The value of one series in a text exposition (0 when absent). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** A clean image posted whole; its answer's status. */
async function uploadClean(served: Served, seed: number): Promise<number> {
  const body = upload(png(200, 200, seed));
  return (await exchange(served.port, head(served.path, body.length), body)).status;
}

describe('two guards in one process', () => {
  it("each guard's uploads_ended_total counts its own stalled and aborted uploads, not the other's", async () => {
    const a = await serve('/a', IDLE);
    const b = await serve('/b', 60_000);
    const aByHand = await createGuardMetrics(a.guard); // the public form, scoped the same
    closers.push(async () => aByHand.close());
    const part = partOf(512 * KIB, 100 * KIB);

    const stalled = stall(a.port, '/a', part.length, part.sent);
    await until(() => stalled.closed(), 'guard a to end the stalled upload', 15_000);
    await until(
      async () => endedSeries(await a.guard.metrics()).some(([key]) => key === 'stalled /a'),
      "a's ended upload counted",
      10_000,
    );
    await until(() => uploadBudget.held === 0, 'the stalled upload given back');

    const leaving = stall(b.port, '/b', part.length, part.sent);
    await until(() => uploadBudget.held > 0, 'guard b reading the upload');
    leaving.socket.destroy();
    await until(
      async () => endedSeries(await b.guard.metrics()).some(([key]) => key === 'aborted /b'),
      "b's ended upload counted",
      10_000,
    );

    expect(endedSeries(await a.guard.metrics())).toEqual([['stalled /a', 1]]);
    expect(endedSeries(await b.guard.metrics())).toEqual([['aborted /b', 1]]);
    expect(endedSeries(await aByHand.metrics())).toEqual([['stalled /a', 1]]);
  });

  it("each guard's calls_total counts the calls of its own PhotoDNA client, not the other's", async () => {
    const a = await serve('/a', 60_000);
    const b = await serve('/b', 60_000);

    expect(await uploadClean(a, 5101)).toBe(200);
    expect(value(await a.guard.metrics(), MATCH_200)).toBe(1);
    expect(value(await b.guard.metrics(), MATCH_200)).toBe(0);

    expect(await uploadClean(b, 5102)).toBe(200);
    expect(await uploadClean(b, 5103)).toBe(200);
    expect(value(await a.guard.metrics(), MATCH_200)).toBe(1);
    expect(value(await b.guard.metrics(), MATCH_200)).toBe(2);
  });

  it("a scan worker's metrics count its own client's calls; the guard's count none of the worker's", async () => {
    const a = await serve('/a', 60_000);
    const queue = await openScanQueue({ dir: join(root, 'queue') });
    const worker = await createScanWorker({
      queue,
      apiKey: 'worker-key',
      baseUrl: service.emulator.url,
    });
    const workerMetrics = await createGuardMetrics(worker);
    closers.push(async () => {
      workerMetrics.close();
      await worker.close();
      await queue.close();
    });

    const scanned: string[] = [];
    worker.on('scan', (e) => void scanned.push(e.outcome));

    expect(await uploadClean(a, 5201)).toBe(200);
    await queue.enqueue({ source: { kind: 'bytes', bytes: png(200, 200, 5202) } });
    await until(() => scanned.length > 0, "the worker's scan", 20_000);
    expect(scanned).toEqual(['clean']);
    expect(value(await a.guard.metrics(), MATCH_200)).toBe(1);
    expect(value(await workerMetrics.metrics(), MATCH_200)).toBe(1);
  });

  it('a PhotoDnaClient the app shares between two guards (matcher) is counted by both, as intended', async () => {
    const shared = new PhotoDnaClient({ apiKey: 'shared-key', baseUrl: service.emulator.url });
    closers.push(() => shared.close());
    const matcher = shared.asMatcher();
    const a = await serve('/a', 60_000, { matcher: { match: (input) => matcher.match(input) } });
    const b = await serve('/b', 60_000, { matcher: { match: (input) => matcher.match(input) } });

    expect(await uploadClean(a, 5301)).toBe(200);
    expect(value(await a.guard.metrics(), MATCH_200)).toBe(1);
    expect(value(await b.guard.metrics(), MATCH_200)).toBe(1);
  });
});
