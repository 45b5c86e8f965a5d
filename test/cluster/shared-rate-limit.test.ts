import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { png } from '../fixtures/images.js';
import { busiestWindow } from '../helpers/call-log.js';
import { until } from '../helpers/until.js';
import { type GuardProcess, startGuardProcess } from './guard-processes.js';
import { useRedisServer } from './redis-admin.js';
import { describeWithRedis } from './requires-redis.js';

/**
 * Issue 7: three guard processes with the same subscription key and one Redis stay under the
 * key's rate limit together. Everything is real: redis-server, three Node processes running
 * Express + photodnaGuard, and the emulator enforcing 5 calls/s per key in a sliding second.
 */

const PER_SECOND = 5;
const BURST = 30;
const API_KEY = 'cluster-test-key-3c9e1f';

let seed = 7000;
const fresh = () => png(200, 200, seed++);

interface Answer {
  status: number;
  body: { photodna?: { status: string }; error?: { code: string } };
  ms: number;
}

async function upload(url: string, path = '/upload'): Promise<Answer> {
  const form = new FormData();
  form.append('file', new Blob([fresh()], { type: 'image/png' }), 'photo.png');
  const started = performance.now();
  const res = await fetch(`${url}${path}`, { method: 'POST', body: form });
  return {
    status: res.status,
    body: (await res.json()) as Answer['body'],
    ms: performance.now() - started,
  };
}

describeWithRedis('three guard processes sharing one Redis', () => {
  const redis = useRedisServer();
  let emulator: Emulator;
  let guards: GuardProcess[] = [];

  beforeAll(async () => {
    emulator = await startEmulator({ rateLimit: { perSecond: PER_SECOND } });
    guards = await Promise.all(
      [1, 2, 3].map(() =>
        startGuardProcess({
          apiKey: API_KEY,
          baseUrl: emulator.url,
          redis: redis.url,
          perSecond: PER_SECOND,
          scanTimeoutMs: 60_000,
        }),
      ),
    );
  }, 30_000);

  afterAll(async () => {
    await Promise.all(guards.map((g) => g.close()));
    await emulator?.close();
  });

  const matchCalls = () => emulator.calls.filter((c) => c.operation === 'match-v2');

  it(`a burst of ${BURST} uploads across the three stays at ${PER_SECOND}/s in total, without a 429`, async () => {
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: BURST }, (_, i) => upload((guards[i % 3] as GuardProcess).url)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(BURST).fill(200));
    expect(answers.every((a) => a.body.photodna?.status === 'clean')).toBe(true);

    const calls = matchCalls().filter((c) => c.at >= started);
    expect(calls.filter((c) => c.httpStatus === 429)).toEqual([]);
    const accepted = calls.filter((c) => c.httpStatus === 200);
    expect(accepted).toHaveLength(BURST);
    expect(busiestWindow(accepted.map((c) => c.at))).toBeLessThanOrEqual(PER_SECOND);
    // And not much slower than it must be: 30 calls at 5/s need 5.8 s from first to last.
    const span = (accepted.at(-1)?.at ?? 0) - (accepted[0]?.at ?? 0);
    expect(span).toBeLessThan(((BURST - 1) / PER_SECOND) * 1000 * 1.2);
    for (const guard of guards) expect(guard.errors).toEqual([]);
  }, 20_000);

  it('Redis down: 503 SCAN_UNAVAILABLE under failMode closed, unchecked under open, promptly; back by itself when Redis returns', async () => {
    await redis.kill();
    const [guard] = guards as [GuardProcess];
    const callsBefore = matchCalls().length;

    const closed = await upload(guard.url, '/upload');
    expect(closed.status).toBe(503);
    expect(closed.body.error?.code).toBe('SCAN_UNAVAILABLE');
    expect(closed.ms).toBeLessThan(2_500);

    const open = await upload(guard.url, '/open');
    expect(open.status).toBe(200);
    expect(open.body.photodna?.status).toBe('unchecked');
    expect(open.ms).toBeLessThan(2_500);

    expect(matchCalls()).toHaveLength(callsBefore); // nothing reached PhotoDNA unmetered
    await expect.poll(() => guard.errors.length).toBeGreaterThanOrEqual(2);
    expect(guard.errors.map((e) => e.reason)).toEqual(
      Array(guard.errors.length).fill('rate-limiter-down'),
    );
    expect(guard.errors.every((e) => e.stage === 'scan')).toBe(true);

    // Redis comes back, empty (no persistence): no restart of the guards, no setup.
    await redis.start();
    const back = Date.now();
    let answer = await upload(guard.url);
    await until(
      async () => {
        if (answer.status === 200) return true;
        answer = await upload(guard.url);
        return answer.status === 200;
      },
      'an upload to pass once Redis is back',
      8_000,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.photodna?.status).toBe('clean');
    expect(Date.now() - back).toBeLessThan(5_000);
    const all = await Promise.all(guards.map((g) => upload(g.url)));
    expect(all.map((a) => a.status)).toEqual([200, 200, 200]);
  }, 20_000);
});
