import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { createGuardMetrics } from '../../src/metrics/index.js';
import { openScanQueue } from '../../src/queue/index.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

/** Issue 12: Prometheus metrics from a real guard over real HTTP, against the emulator. */

const service = useEmulator();
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pdg-metrics-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The value of one series in a text exposition (0 when absent). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function exercise(registry?: Registry) {
  const guard = photodnaGuard(service.options({ cache: {} }));
  const queue = await openScanQueue({ dir: join(root, `q-${Math.random()}`) });
  const metrics = await createGuardMetrics(guard, {
    queue,
    ...(registry ? { registry } : {}),
  });
  const app = express();
  app.post('/upload', guard.any(), (req, res) => {
    res.json({ status: req.photodna?.status });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });
  const clean = png(200, 200, 4242);
  await request(app).post('/upload').attach('file', clean, 'a.png').expect(200);
  await request(app).post('/upload').attach('file', clean, 'b.png').expect(200); // cache hit
  await request(app).post('/upload').attach('file', knownImage(), 'c.png').expect(422);
  await request(app)
    .post('/upload')
    .attach('file', png(20, 20, 1), 'd.png')
    .expect(422);
  service.emulator.faults.push({ type: 'status', status: 429, retryAfter: 1 });
  await request(app)
    .post('/upload')
    .attach('file', png(200, 200, 4343), 'e.png')
    .expect(200);
  await queue.enqueue({ source: { kind: 'bytes', bytes: png(200, 200, 4444) } });
  const scrape = await request(app).get('/metrics').expect(200);
  metrics.close();
  await guard.close();
  await queue.close();
  return scrape;
}

describe('createGuardMetrics', () => {
  it('exposes scans, matches, rejections, calls, 429s, retries, cache ratio and queue depth', async () => {
    const scrape = await exercise();
    expect(scrape.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = scrape.text;
    const p = 'photodna_guard_';
    expect(value(text, `${p}scans_total{outcome="clean",route="/upload",deferred="false"}`)).toBe(
      3,
    );
    expect(value(text, `${p}scans_total{outcome="match",route="/upload",deferred="false"}`)).toBe(
      1,
    );
    expect(value(text, `${p}matches_total{route="/upload",policy="block",deferred="false"}`)).toBe(
      1,
    );
    expect(value(text, `${p}rejections_total{code="IMAGE_TOO_SMALL",route="/upload"}`)).toBe(1);
    expect(value(text, `${p}calls_total{operation="match",status="200"}`)).toBe(3);
    expect(value(text, `${p}calls_total{operation="match",status="429"}`)).toBe(1);
    expect(value(text, `${p}throttled_total{operation="match"}`)).toBe(1);
    expect(value(text, `${p}retries_total{operation="match"}`)).toBe(1);
    expect(value(text, `${p}cache_hit_ratio`)).toBe(0.25);
    expect(value(text, `${p}deferred_waiting`)).toBe(1);
    expect(value(text, `${p}call_duration_seconds_count{operation="match"}`)).toBe(4);
    expect(text).toMatch(/# TYPE photodna_guard_scan_duration_seconds histogram/);
    expect(text).toMatch(
      /photodna_guard_scan_duration_seconds_bucket\{outcome="clean",deferred="false",le="\+Inf"\} 2/,
    );
  });

  it('registers the same metrics in a prom-client registry', async () => {
    const registry = new Registry();
    const scrape = await exercise(registry);
    const text = scrape.text;
    expect(
      value(text, 'photodna_guard_scans_total{outcome="clean",route="/upload",deferred="false"}'),
    ).toBe(3);
    expect(value(text, 'photodna_guard_throttled_total{operation="match"}')).toBe(1);
    expect(value(text, 'photodna_guard_deferred_waiting')).toBe(1);
  });

  it('guard.metrics() exposes the same, with the deferred queue of the guard', async () => {
    const guard = photodnaGuard(
      service.options({ queue: { dir: join(root, 'guard-queue') }, queueWorker: false }),
    );
    const app = express();
    app.post('/upload', guard.route({ defer: true }).any(), (_req, res) => {
      res.json({});
    });
    expect(await guard.metrics()).toMatch(/photodna_guard_deferred_waiting 0/);
    await request(app)
      .post('/upload')
      .attach('file', png(200, 200, 4545), 'a.png')
      .expect(200);
    await request(app)
      .post('/upload')
      .attach('file', png(20, 20, 1), 'b.png')
      .expect(422);
    const text = await guard.metrics();
    expect(value(text, 'photodna_guard_deferred_waiting')).toBe(1);
    expect(
      value(text, 'photodna_guard_rejections_total{code="IMAGE_TOO_SMALL",route="/upload"}'),
    ).toBe(1);
    expect(guard.queue?.engine).toBe('embedded');
    await guard.close();
  });

  it('route labels: an uploader-chosen long path behind app.use(guard) is unmatched, never kept or printed', async () => {
    const guard = photodnaGuard(service.options());
    const metrics = await createGuardMetrics(guard);
    const app = express();
    app.use(guard);
    const long = `/${'a'.repeat(8000)}`;
    await request(app).post(long).attach('file', Buffer.from('not an image'), 'a.png').expect(415);
    const text = await metrics.metrics();
    expect(
      value(
        text,
        'photodna_guard_rejections_total{code="UNSUPPORTED_MEDIA_TYPE",route="unmatched"}',
      ),
    ).toBe(1);
    expect(text.length).toBeLessThan(8000);
    metrics.close();
    await guard.close();
  });
});
