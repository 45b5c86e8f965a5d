import { describe, expect, it } from 'vitest';
import { png } from '../fixtures/images.js';
import { type Answer, call, emulator, PATHS, postJson, sleep } from './helpers.js';

const image = png();
const burst = (count: number, send: () => Promise<Answer>): Promise<Answer[]> =>
  Promise.all(Array.from({ length: count }, send));

// Which request the window refuses at which instant: test/unit/emulator/rate-limit.test.ts, on a
// clock the test moves. Here: the 429 over HTTP, and what counts against which window.
describe('rate limit', () => {
  it('v2: 6 requests inside one second get exactly one 429, with Retry-After and the APIM body', async () => {
    const emu = await emulator();
    const started = Date.now();
    const answers = await burst(6, () =>
      call(emu, PATHS.v2, { body: image, contentType: 'image/png' }),
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.json).toEqual({
      statusCode: 429,
      message: 'Rate limit is exceeded. Try again in 1 seconds.',
    });
    expect(refused[0]?.headers['retry-after']).toBe('1');
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    expect(emu.calls.filter((c) => c.httpStatus === 429)).toHaveLength(1);
  });

  it('v1: 11 requests inside one second get exactly one 429, and 10 pass after the window', async () => {
    const emu = await emulator();
    const first = await burst(11, () =>
      call(emu, PATHS.v1, { body: image, contentType: 'image/png' }),
    );
    expect(first.filter((a) => a.status === 429)).toHaveLength(1);
    await sleep(1_050);
    const second = await burst(10, () =>
      call(emu, PATHS.v1, { body: image, contentType: 'image/png' }),
    );
    expect(second.every((a) => a.status === 200)).toBe(true);
  });

  it('counts MatchHash against the v1 window, and keeps v1 and v2 apart', async () => {
    const emu = await emulator();
    await burst(5, () => call(emu, PATHS.v1, { body: image, contentType: 'image/png' }));
    await burst(5, () =>
      postJson(emu, PATHS.hash, [{ DataRepresentation: 'Hash', Value: 'AAAA' }]),
    );
    expect((await postJson(emu, PATHS.hash, [])).status).toBe(429);
    expect((await call(emu, PATHS.v2, { body: image, contentType: 'image/png' })).status).toBe(200);
  });

  it('limits each key separately', async () => {
    const emu = await emulator();
    const a = await burst(6, () =>
      call(emu, PATHS.v2, { body: image, contentType: 'image/png', key: 'key-a' }),
    );
    const b = await burst(5, () =>
      call(emu, PATHS.v2, { body: image, contentType: 'image/png', key: 'key-b' }),
    );
    expect(a.filter((x) => x.status === 429)).toHaveLength(1);
    expect(b.every((x) => x.status === 200)).toBe(true);
  });

  it('does not limit Report', async () => {
    const emu = await emulator();
    const answers = await burst(12, () =>
      postJson(emu, PATHS.report, {}, { 'x-usr': 'u', 'x-pwd': 'p' }),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });

  it('takes { perSecond } for both versions, and false for none', async () => {
    const custom = await emulator({ rateLimit: { perSecond: 2 } });
    const v1 = await burst(3, () =>
      call(custom, PATHS.v1, { body: image, contentType: 'image/png' }),
    );
    expect(v1.filter((a) => a.status === 429)).toHaveLength(1);
    const none = await emulator({ rateLimit: false });
    const many = await burst(30, () =>
      call(none, PATHS.v2, { body: image, contentType: 'image/png' }),
    );
    expect(many.every((a) => a.status === 200)).toBe(true);
  });
});
