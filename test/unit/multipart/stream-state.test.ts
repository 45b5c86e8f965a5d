import { once } from 'node:events';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hasEnded, isDestroyed } from '../../../src/multipart/stream-state.js';

/**
 * `hasEnded` and `isDestroyed` read Node's `_readableState` instead of the `readableEnded` and
 * `destroyed` getters (issue 16): they must answer what the getters answer, at every stage of a
 * stream's life, on this Node.
 */
function expectSameAsGetters(stream: Readable): void {
  expect(hasEnded(stream)).toBe(stream.readableEnded);
  expect(isDestroyed(stream)).toBe(stream.destroyed);
}

describe('hasEnded / isDestroyed', () => {
  it('a readable before, during and after it is read, then destroyed', async () => {
    const stream = new PassThrough();
    expectSameAsGetters(stream);
    expect(hasEnded(stream)).toBe(false);
    stream.end('bytes');
    expectSameAsGetters(stream); // written to its end, not yet read
    expect(hasEnded(stream)).toBe(false);
    stream.resume();
    await once(stream, 'end');
    expectSameAsGetters(stream);
    expect(hasEnded(stream)).toBe(true);
    stream.destroy();
    expectSameAsGetters(stream);
    expect(isDestroyed(stream)).toBe(true);
  });

  it('a readable destroyed before its end', () => {
    const stream = Readable.from(['a', 'b']);
    stream.destroy();
    expectSameAsGetters(stream);
    expect(isDestroyed(stream)).toBe(true);
    expect(hasEnded(stream)).toBe(false);
  });

  it("Node's server request, unread, read to its end, and destroyed", async () => {
    const seen: boolean[][] = [];
    const server = createServer((req: IncomingMessage, res) => {
      const stage = () => {
        expectSameAsGetters(req);
        seen.push([hasEnded(req), isDestroyed(req)]);
      };
      stage();
      req.resume();
      req.on('end', () => {
        stage();
        res.end('ok', () => {
          req.destroy();
          stage();
        });
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await new Promise<string>((resolve, reject) => {
        const req = request({ port, host: '127.0.0.1', method: 'POST', agent: false }, (res) => {
          res.setEncoding('utf8');
          let text = '';
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end('a body');
      });
      expect(answer).toBe('ok');
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(3);
      expect(seen).toEqual([
        [false, false],
        [true, false],
        [true, true],
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a readable-like stream without Node’s state is asked through its getters', () => {
    const foreign = { readableEnded: true, destroyed: true } as unknown as Readable;
    expect(hasEnded(foreign)).toBe(true);
    expect(isDestroyed(foreign)).toBe(true);
  });
});
