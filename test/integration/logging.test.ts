import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { png } from '../fixtures/images.js';
import { adapters, type Running } from '../helpers/adapters.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

const emu = useEmulator();
const express5 = adapters[0];

/** A pino-compatible logger that keeps every line it is given. */
function capture() {
  const lines: Array<{ level: string; obj: unknown; msg?: string }> = [];
  const at = (level: string) => (obj: unknown, msg?: string) => lines.push({ level, obj, msg });
  return {
    lines,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

const serialize = (value: unknown) =>
  JSON.stringify(value, (_, v) =>
    v instanceof Error ? { message: v.message, stack: v.stack, cause: String(v.cause) } : v,
  );

describe('the injected logger', () => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  it('hears scans, rejections, matches and errors, and never bytes, keys, passwords or file names', async () => {
    const { lines, logger } = capture();
    const apiKey = 'sk-logging-secret-key-42';
    const options = emu.options({
      apiKey,
      logger,
      reporter: { ncmecPassword: 'ncmec-secret-pw', ncmecUser: 'u' },
      onMatch: () => {
        throw new Error('hook failed');
      },
    });
    const server = await express5?.start(options, [{ path: '/upload' }], { global: true });
    if (!server) throw new Error('no adapter');
    running.push(server);
    const bytes = knownImage();
    expect(
      (await request(server.url).post('/upload').attach('f', bytes, 'private-name-1.png')).status,
    ).toBe(422);
    expect(
      (
        await request(server.url)
          .post('/upload')
          .attach('f', png(200, 200, 901), 'private-name-2.png')
      ).status,
    ).toBe(200);
    const levels = lines.map((l) => `${l.level}:${l.msg}`);
    expect(levels).toEqual(
      expect.arrayContaining([
        'warn:photodna-guard: an upload matched a hash list',
        'info:photodna-guard: upload rejected',
        'debug:photodna-guard: file scanned',
        'error:photodna-guard: hook error: hook failed',
      ]),
    );
    const all = serialize(lines);
    expect(all).not.toContain(apiKey);
    expect(all).not.toContain('ncmec-secret-pw');
    expect(all).not.toContain('private-name');
    expect(all).not.toContain(bytes.toString('base64').slice(0, 64));
    expect(all).not.toContain(bytes.subarray(0, 32).toString('hex'));
  });
});
