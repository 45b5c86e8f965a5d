import express from 'express';
import request from 'supertest';
import { expect, it, vi } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';

// sharp installed (the options find it) but unable to load at request time (a broken native
// binary): the upload is refused, and the configuration's failure is an `error` event first.
vi.mock('../../src/pdq/load-sharp.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/pdq/load-sharp.js')>();
  const { SharpMissingError } = await import('../../src/pdq/sharp.js');
  return {
    ...real,
    loadSharp: () => Promise.reject(new SharpMissingError(new Error('no native binary'))),
  };
});

it("sanitize 'reencode' with sharp that cannot load: error (scan, not-configured), then reject, 503", async () => {
  const matcher = new RecordingMatcher();
  const guard = photodnaGuard({ matcher, sanitize: 'reencode', logger: false });
  const events: string[] = [];
  guard
    .on('error', (e) => events.push(`error:${e.stage}:${e.reason ?? ''}`))
    .on('reject', (e) => events.push(`reject:${e.code}`));
  // The guard tries sharp when it is made, and says at once that it cannot load.
  await vi.waitFor(() => expect(events).toEqual(['error:scan:not-configured']), {
    timeout: 10_000,
  });
  events.length = 0;
  const app = express();
  let runs = 0;
  app.post('/upload', guard.single('f'), (_req, res) => {
    runs++;
    res.json({ ok: true });
  });
  try {
    const res = await request(app).post('/upload').attach('f', png(), 'a.png');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(events).toEqual(['error:scan:not-configured', 'reject:SCAN_UNAVAILABLE']);
    expect(runs).toBe(0);
    expect(matcher.calls).toHaveLength(0);
  } finally {
    await guard.close();
  }
});
