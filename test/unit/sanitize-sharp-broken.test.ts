import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { png } from '../fixtures/images.js';

/**
 * sharp installed but unable to load (a native binary for another platform): `sanitize:
 * 'reencode'` says so as a setup fault when the guard is made, and uploads fail closed (503
 * `SCAN_UNAVAILABLE`), never pass unsanitized, whatever the fail mode. The import of sharp is made to fail, as it does
 * on such a machine; the guard is the real one.
 */
vi.mock('sharp', () => {
  throw new Error('Could not load the "sharp" module using the linux-x64 runtime');
});

const { photodnaGuard } = await import('../../src/index.js');
const express = (await import('express')).default;
const { RecordingMatcher } = await import('../helpers/matchers.js');

describe('issue 11 class 4: sanitize with a sharp that cannot load', () => {
  it.each(['closed', 'open'] as const)(
    "failMode '%s': emits a not-configured error at once and answers uploads 503, unchecked and unsanitized nowhere",
    async (failMode) => {
      const errors: Array<{ reason?: string; message: string }> = [];
      const matcher = new RecordingMatcher();
      const guard = photodnaGuard({
        matcher,
        sanitize: 'reencode',
        // 'open' passes what the service could not check, never what could not be sanitized.
        failMode,
        on: {
          error: (e) => errors.push({ reason: e.reason, message: e.error.message }),
        },
      });
      const deadline = Date.now() + 10_000;
      while (errors.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(errors[0]).toMatchObject({ reason: 'not-configured' });
      expect(errors[0]?.message).toMatch(
        /sanitize 'reencode' needs sharp, which could not be loaded \(npm install sharp\)/,
      );
      const app = express();
      let runs = 0;
      app.post('/upload', guard.single('f'), (_req, res) => {
        runs += 1;
        res.json({});
      });
      const res = await request(app).post('/upload').attach('f', png(), 'a.png');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
      expect(runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
      await guard.close();
    },
  );
});
