import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { png } from '../fixtures/images.js';
import { adapters, type Running } from '../helpers/adapters.js';
import { useEmulator } from '../helpers/emulated.js';
import { until } from '../helpers/until.js';

const emu = useEmulator();
const express5 = adapters[0];

describe('the result cache when the wall clock steps back', () => {
  const running: Running[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  it('a clean result is reused for cleanTtlMs of real time, not that plus the step', async () => {
    const options = emu.options({ cache: { cleanTtlMs: 100 } });
    const server = await express5?.start(options, [{ path: '/upload' }], { global: true });
    if (!server) throw new Error('no adapter');
    running.push(server);
    const calls = () => emu.emulator.calls.filter((c) => c.key === options.apiKey).length;
    const bytes = png(200, 200, 9191);
    const send = () => request(server.url).post('/upload').attach('f', bytes, 'f.png');

    expect((await send()).status).toBe(200);
    const cachedAt = performance.now();
    // NTP steps the wall clock back an hour (a host whose clock ran ahead, a VM restored).
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
    await until(() => performance.now() - cachedAt > 200, 'the clean TTL to pass');

    // Before: expiry was read on Date.now, and the result was reused for another hour.
    expect((await send()).status).toBe(200);
    expect(calls()).toBe(2);
  });
});
