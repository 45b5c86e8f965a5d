/**
 * `photodna_guard_uploads_ended_total{reason, route}`: the uploads the guard gives up on with no
 * answer, no handler and no event are still seen by operators. `stalled`: the body sent nothing
 * for `limits.bodyIdleMs` and the guard ended it (a wave of them holds `maxBufferedBytes`, the
 * attack `bodyIdleMs` defends against), with one `debug` line to the guard's logger; `aborted`:
 * the uploader left mid-body. A clean upload counts nothing. What the uploader gets is as before
 * (body-idle.test.ts). Every adapter where the guard reads the body, real HTTP.
 */
import { readdirSync } from 'node:fs';
import { constants } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { uploadBudget } from '../../src/core/upload-budget.js';
import type { Logger } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { adapters, startPerTest } from '../helpers/adapters.js';
import { fastifyScanAdapter } from '../helpers/adapters-web.js';
import {
  closeAfterEach,
  fastifyH2,
  honoH2,
  imageForm,
  koaH2,
  send as sendH2,
} from '../helpers/http2-servers.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { KIB, partOf, send, stall, upload } from '../helpers/stalled-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';
import { until } from '../helpers/until.js';

const tmp = expectNoTempFiles();

/** Short, so that the tests run quickly; the deadlines they wait on are generous. */
const IDLE = 300;
const CLEAN = png(200, 200, 91);

afterEach(async () => {
  await until(() => uploadBudget.held === 0, 'the budget given back');
});
// Registered after: run before it (the HTTP/2 servers and clients closed first).
closeAfterEach();

/** The `uploads_ended_total` series of a text exposition: `reason route` to its value. */
async function endedSeries(guard: { metrics(): Promise<string> }): Promise<Map<string, number>> {
  const text = await guard.metrics();
  return seriesIn(text);
}

function seriesIn(text: string): Map<string, number> {
  const series = new Map<string, number>();
  const line = /^photodna_guard_uploads_ended_total\{reason="(\w+)",route="([^"]*)"\} (\d+)$/gm;
  for (const [, reason, route, value] of text.matchAll(line)) {
    series.set(`${reason} ${route}`, Number(value));
  }
  return series;
}

/** What a logger was given at `debug`, as `[fields, message]`. */
function debugLines() {
  const lines: Array<[unknown, string | undefined]> = [];
  const logger: Logger = {
    debug: (obj, msg) => lines.push([obj, msg]),
    info: () => {},
    warn: () => {},
    error: () => {},
  };
  return { logger, lines };
}

describe.each([...adapters, fastifyScanAdapter])('$name', (adapter) => {
  const start = startPerTest(adapter);
  // The fetch adapter is told no route pattern by its host here (`info.routePattern`).
  const label = adapter.name === 'fetch' ? 'unmatched' : '/upload';

  async function serve(bodyIdleMs: number, logger?: Logger) {
    const server = await start(
      { matcher: new RecordingMatcher(), cache: false, ...(logger ? { logger } : {}) },
      [{ path: '/upload', use: (g) => g.route({ limits: { bodyIdleMs } }).single('f') }],
    );
    await server.guard.metrics(); // counted from the first call on
    return server;
  }

  /** Until the guard (or, in 'scan' mode, the host's parser it runs) reads the stalled body. */
  async function bodyBeingRead(): Promise<void> {
    if (adapter.hostParser) {
      await until(() => readdirSync(tmp.dir()).length > 0, 'the host parser writing the upload');
    } else await until(() => uploadBudget.held > 0, 'the guard reading the upload');
  }

  it('a body that stalls for bodyIdleMs counts once as stalled, and is logged at debug by route (no query, no bytes)', async () => {
    const { logger, lines } = debugLines();
    const server = await serve(IDLE, logger);
    const part = partOf(512 * KIB, 100 * KIB);
    const stalled = stall(server.port, '/upload?token=secret', part.length, part.sent);

    await until(() => stalled.closed(), 'the server to end the stalled upload', 15_000);
    await until(
      async () => (await endedSeries(server.guard)).size > 0,
      'the ended upload counted',
      10_000,
    );
    expect([...(await endedSeries(server.guard))]).toEqual([[`stalled ${label}`, 1]]);
    expect(server.log.runs).toBe(0);

    const stalledLines = lines.filter(([, msg]) => msg?.includes('stalled'));
    expect(stalledLines).toHaveLength(1);
    const [fields, message] = stalledLines[0] as [unknown, string];
    expect(message).toBe('photodna-guard: upload body stalled (limits.bodyIdleMs), ended');
    expect(fields).toMatchObject({ route: '/upload' });
    expect(JSON.stringify(fields)).not.toContain('secret');
  });

  it('an uploader who leaves mid-body counts once as aborted, and is not logged as stalled', async () => {
    const { logger, lines } = debugLines();
    const server = await serve(60_000, logger);
    const part = partOf(512 * KIB, 100 * KIB);
    const leaving = stall(server.port, '/upload', part.length, part.sent);
    await bodyBeingRead();
    leaving.socket.destroy();

    await until(
      async () => (await endedSeries(server.guard)).size > 0,
      'the ended upload counted',
      10_000,
    );
    expect([...(await endedSeries(server.guard))]).toEqual([[`aborted ${label}`, 1]]);
    expect(server.log.runs).toBe(0);
    expect(lines.filter(([, msg]) => msg?.includes('stalled'))).toEqual([]);
  });

  it('a clean upload counts nothing', async () => {
    const server = await serve(IDLE);
    const answer = await send(server, '/upload', upload(CLEAN));
    expect(answer.status).toBe(200);
    expect(server.log.runs).toBe(1);
    const text = await server.guard.metrics();
    expect(text).toMatch(/photodna_guard_scans_total\{outcome="clean"/);
    expect([...(await endedSeries(server.guard))]).toEqual([]);
  });
});

describe.each([koaH2, fastifyH2, honoH2])('$name', (h2) => {
  /** Koa's guard is global here (`app.use(guard)`): no route pattern yet. */
  const label = h2 === koaH2 ? 'unmatched' : '/upload';

  async function stalledStream(bodyIdleMs: number) {
    const served = await h2.start({
      matcher: new RecordingMatcher(),
      cache: false,
      limits: { bodyIdleMs },
    });
    await served.metrics(); // counted from the first call on
    const body = imageForm(png(200, 200, 92, 200 * KIB));
    const stalled = sendH2(
      served.port,
      body.subarray(0, 40 * KIB),
      { 'content-length': String(body.length) },
      { end: false },
    );
    await until(() => uploadBudget.held > 0, 'the guard reading the upload');
    return { served, stalled };
  }

  async function endedOnce(served: { metrics(): Promise<string> }) {
    await until(
      async () => seriesIn(await served.metrics()).size > 0,
      'the ended upload counted',
      10_000,
    );
    return [...seriesIn(await served.metrics())];
  }

  it('a stream whose body stalls for bodyIdleMs counts once as stalled', async () => {
    const { served, stalled } = await stalledStream(IDLE);
    await until(() => stalled.stream.closed, 'the server to end the stalled stream', 15_000);
    expect(await endedOnce(served)).toEqual([[`stalled ${label}`, 1]]);
    expect(served.runs()).toBe(0);
  });

  it('a stream its client resets mid-body counts once as aborted', async () => {
    const { served, stalled } = await stalledStream(60_000);
    stalled.stream.close(constants.NGHTTP2_CANCEL);
    expect(await endedOnce(served)).toEqual([[`aborted ${label}`, 1]]);
    expect(served.runs()).toBe(0);
  });
});
