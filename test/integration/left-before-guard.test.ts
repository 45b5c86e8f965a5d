import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/koa.js';
import { MultipartParser, UploadAborted } from '../../src/multipart/parser.js';
import { limitsSchema } from '../../src/route-options.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { abortMidUpload, multipartBody } from '../helpers/raw-upload.js';
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
});
