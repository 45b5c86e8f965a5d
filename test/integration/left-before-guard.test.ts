import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import { afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard as expressGuard } from '../../src/index.js';
import { photodnaGuard } from '../../src/koa.js';
import { MultipartParser, UploadAborted } from '../../src/multipart/parser.js';
import { limitsSchema } from '../../src/route-options.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { abortMidUpload, multipartBody, sendUpload } from '../helpers/raw-upload.js';
import { until } from '../helpers/until.js';

/**
 * An uploader who leaves while a middleware ahead of the guard still runs: the request stream is
 * destroyed before multer's listeners exist, so it will never end or error again. The guard must
 * give the request up (nobody to answer), not wait on it forever, holding it in memory.
 */
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

const boundary = 'leftBefore';
const body = multipartBody(boundary, [
  { name: 'f', filename: 'a.png', type: 'image/png', data: png(400, 400) },
]);

async function listening(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Resolves once `req` was destroyed (the uploader's socket closed; its 'aborted' error taken). */
function whenLeft(req: IncomingMessage): Promise<void> {
  req.on('error', () => {});
  return new Promise((resolve) => {
    if (req.destroyed) resolve();
    else req.once('close', () => resolve());
  });
}

describe('an uploader who leaves before the guard runs', () => {
  it("the parser rejects at once with UploadAborted (multer's listeners would wait forever)", async () => {
    const parser = new MultipartParser(limitsSchema.parse({}));
    const outcomes: unknown[] = [];
    const port = await listening(
      createServer((req) => {
        void whenLeft(req).then(() => {
          const parsing = parser.parse(req as never, { kind: 'any' });
          if (!parsing) outcomes.push('refused');
          else
            parsing.then(
              () => outcomes.push('parsed'),
              (error) => outcomes.push(error),
            );
        });
      }),
    );
    await abortMidUpload(port, '/upload', body, boundary, 300);
    await until(() => outcomes.length > 0, 'the parse to settle');
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toBeInstanceOf(UploadAborted);
  });

  it('Koa: the middleware ahead of the guard gets control back, and no call is spent', async () => {
    const matcher = new RecordingMatcher();
    const guard = photodnaGuard({ matcher });
    const app = new Koa();
    const settled: string[] = [];
    let handlerRuns = 0;
    app.use(async (ctx, next) => {
      await whenLeft(ctx.req); // a slow middleware: the uploader is gone when it is done
      try {
        await next();
        settled.push('returned');
      } catch {
        settled.push('threw');
      }
    });
    app.use(guard);
    app.use((ctx) => {
      handlerRuns++;
      ctx.body = 'ok';
    });
    const port = await listening(createServer(app.callback()));
    try {
      await abortMidUpload(port, '/upload', body, boundary, 300);
      await until(() => settled.length > 0, 'the guard to give the request up');
      expect(settled).toEqual(['returned']);
      expect(handlerRuns).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    } finally {
      await guard.close();
    }
  });

  it("Express: the files the host's multer saved to disk are deleted, not left unchecked", async () => {
    // multer (disk storage) read the whole body, then the uploader left while a slow step ran:
    // the guard gives the request up, and like any abandoned request's, its files leave the disk.
    const dest = mkdtempSync(join(tmpdir(), 'pdg-left-disk-'));
    const matcher = new RecordingMatcher();
    const guard = expressGuard({ matcher });
    const app = express();
    let saved = 0;
    let handlerRuns = 0;
    app.use(multer({ dest }).any());
    app.use((_req, res, next) => {
      saved = readdirSync(dest).length;
      // The request itself closes once its body was read: the response's 'close' is the socket's.
      res.once('close', () => next());
    });
    app.use(guard);
    app.use((_req, res) => {
      handlerRuns++;
      res.send('ok');
    });
    const port = await listening(createServer(app));
    try {
      const socket = sendUpload(port, '/upload', body, boundary);
      await until(() => saved > 0, 'multer to save the file, and the slow step to run');
      socket.destroy();
      await until(() => readdirSync(dest).length === 0, 'the saved file to be deleted', 10_000);
      expect(handlerRuns).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    } finally {
      await guard.close();
      rmSync(dest, { recursive: true, force: true });
    }
  });
});
