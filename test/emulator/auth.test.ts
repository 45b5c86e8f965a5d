import { describe, expect, it } from 'vitest';
import { png } from '../fixtures/images.js';
import { call, emulator, PATHS, postJson } from './helpers.js';

// API Management's two 401 bodies: a request without a key, and one with a key it does not know.
const MISSING = {
  statusCode: 401,
  message:
    'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.',
};
const INVALID = {
  statusCode: 401,
  message:
    'Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.',
};

describe('subscription key', () => {
  for (const path of Object.values(PATHS)) {
    it(`${path} answers 401 in API Management form without a key`, async () => {
      const emu = await emulator();
      const answer = await call(emu, path, { body: png(), contentType: 'image/png', key: null });
      expect(answer.status).toBe(401);
      expect(answer.json).toEqual(MISSING);
      expect(emu.calls).toMatchObject([{ path, httpStatus: 401 }]);
      expect(emu.calls[0]?.key).toBeUndefined();
    });
  }

  it('answers 401 for an empty or blank key by default, and accepts any other', async () => {
    const emu = await emulator();
    expect(
      (await call(emu, PATHS.v2, { body: png(), contentType: 'image/png', key: '' })).status,
    ).toBe(401);
    expect(
      (await call(emu, PATHS.v2, { body: png(), contentType: 'image/png', key: '   ' })).status,
    ).toBe(401);
    const anyKey = await call(emu, PATHS.v2, {
      body: png(),
      contentType: 'image/png',
      key: 'whatever',
    });
    expect(anyKey.status).toBe(200);
  });

  it('accepts only the configured apiKey, and answers 401 for a wrong one', async () => {
    const emu = await emulator({ apiKey: 'the-right-key' });
    const wrong = await call(emu, PATHS.v1, {
      body: png(),
      contentType: 'image/png',
      key: 'a-wrong-key',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual(INVALID);
    const missing = await call(emu, PATHS.v1, { body: png(), contentType: 'image/png', key: null });
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual(MISSING);
    const right = await call(emu, PATHS.v1, {
      body: png(),
      contentType: 'image/png',
      key: 'the-right-key',
    });
    expect(right.status).toBe(200);
    expect(right.json.Status.Code).toBe(3000);
    expect(emu.calls.map((c) => c.httpStatus)).toEqual([401, 401, 200]);
  });

  it("accepts API Management's subscription-key query parameter", async () => {
    const emu = await emulator({ apiKey: 'k' });
    const answer = await call(emu, `${PATHS.v2}?subscription-key=k`, {
      body: png(),
      contentType: 'image/png',
      key: null,
    });
    expect(answer.status).toBe(200);
  });

  it('checks the key before anything else: no fault is consumed by a 401', async () => {
    const emu = await emulator({ apiKey: 'k', faults: [{ type: 'status', status: 503 }] });
    const answer = await postJson(emu, PATHS.hash, [], {});
    expect(answer.status).toBe(401);
    expect(emu.faults.pending).toBe(1);
  });
});
