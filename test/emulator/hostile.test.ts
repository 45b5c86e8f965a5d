import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { png } from '../fixtures/images.js';
import { call, emulator, matchImage, PATHS } from './helpers.js';

/** Sends raw bytes on a TCP connection and resolves with whatever comes back before it closes. */
function raw(port: number, payload: string | Buffer, waitMs = 500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => resolve(received));
    socket.on('close', () => resolve(received));
    socket.write(payload);
    setTimeout(() => socket.destroy(), waitMs);
  });
}

describe('hostile clients', () => {
  it('survives deeply nested and huge JSON bodies on every JSON route', async () => {
    const emu = await emulator({ rateLimit: false });
    const nested = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    const objects = `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`;
    for (const body of [nested, objects, '\u0000\u0001', '"\\ud800"', 'null', '1e999999']) {
      for (const path of [PATHS.v2, PATHS.hash, PATHS.report]) {
        const answer = await call(emu, path, {
          body,
          contentType: 'application/json',
          headers: { 'x-usr': 'u', 'x-pwd': 'p' },
        });
        expect(answer.status).toBe(200);
        // MatchHash refuses an unreadable batch whole, or each entry that is not a hash.
        const codes = answer.json.Status
          ? [answer.json.Status.Code]
          : answer.json.MatchResults.map((r: { Status: { Code: number } }) => r.Status.Code);
        expect(codes.length).toBeGreaterThan(0);
        expect(codes.every((code: number) => code === 3002)).toBe(true);
      }
    }
    expect((await matchImage(emu, png())).json.Status.Code).toBe(3000);
  });

  it('answers 400 to a malformed request line and keeps serving', async () => {
    const emu = await emulator();
    const reply = await raw(emu.port, 'NOT-HTTP garbage\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await matchImage(emu, png())).status).toBe(200);
  });

  it('refuses a declared Content-Length over 8 MB before reading it', async () => {
    const emu = await emulator();
    const reply = await raw(
      emu.port,
      `POST ${PATHS.v2} HTTP/1.1\r\nHost: x\r\nOcp-Apim-Subscription-Key: k\r\nContent-Type: image/png\r\nContent-Length: 999999999\r\n\r\n`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(reply).toContain('"statusCode":413');
  });

  it('survives a client that disconnects halfway through its body', async () => {
    const emu = await emulator();
    const half = await raw(
      emu.port,
      `POST ${PATHS.v2} HTTP/1.1\r\nHost: x\r\nOcp-Apim-Subscription-Key: k\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(100)}`,
      100,
    );
    expect(half).toBe('');
    expect(emu.calls[0]?.httpStatus).toBe(0);
    expect((await matchImage(emu, png())).status).toBe(200);
  });

  it('answers a chunked body over 8 MB with 413', async () => {
    const emu = await emulator();
    const chunks = Readable.from(
      (function* () {
        for (let i = 0; i < 9; i++) yield Buffer.alloc(1024 * 1024, 1);
      })(),
    );
    const response = await request(`${emu.url}${PATHS.v2}`, {
      method: 'POST',
      headers: { 'ocp-apim-subscription-key': 'k', 'content-type': 'image/png' },
      body: chunks,
    }).catch((error: unknown) => error);
    if (response instanceof Error) {
      // The server may close the connection while the client is still sending.
      expect(emu.calls[0]?.httpStatus).toBe(413);
    } else {
      expect((response as { statusCode: number }).statusCode).toBe(413);
    }
    expect((await matchImage(emu, png())).status).toBe(200);
  });
});
