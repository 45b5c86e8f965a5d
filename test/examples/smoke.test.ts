import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator, testImages } from '../../src/emulator/index.js';
import { png } from '../fixtures/images.js';

/**
 * The runnable examples, started as child processes exactly as their READMEs say (from the
 * repository root, importing the built package by its own name), driven over real HTTP, and
 * stopped with SIGTERM. `npm test` builds first, so `dist/` exists.
 */
const root = resolve(import.meta.dirname, '../..');
const CLEAN = png(200, 200, 7);
const TEST_IMAGE = testImages()[0]?.bytes ?? Buffer.alloc(0);
const STARTUP_MS = 15_000;
const EXIT_MS = 5_000;

const children = new Set<ChildProcess>();
const dirs: string[] = [];
const services: Emulator[] = [];
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await Promise.all(services.map((service) => service.close()));
});

/** An emulator in the test process, standing in for the real service an example is pointed at. */
async function realService(): Promise<Emulator> {
  const service = await startEmulator({ port: 0 });
  services.push(service);
  return service;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pdg-examples-'));
  dirs.push(dir);
  return dir;
}

interface Example {
  url: string;
  output(): string;
  /** SIGTERM, then the exit code (null when killed by a signal or too slow). */
  stop(): Promise<number | null>;
}

/** Variables of the developer's shell that would change what an example does. */
const SCRUBBED =
  /^(PHOTODNA_|NCMEC_|QUARANTINE_DIR$|UPLOAD_DIR$|FAIL_MODE$|REDIS_URL$|HOST$|LOG_LEVEL$|NODE_ENV$|PORT$|METRICS_PORT$|PDQ_LIST$)/;

async function start(
  script: string,
  env: Record<string, string> = {},
  announce = /listening on (http:\/\/127\.0\.0\.1:\d+)/,
): Promise<Example> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !SCRUBBED.test(k)));
  const child = spawn(process.execPath, [script], {
    cwd: root,
    env: { ...base, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const exited = new Promise<number | null>((done) =>
    child.once('exit', (code) => {
      children.delete(child);
      done(code);
    }),
  );
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not start in ${STARTUP_MS} ms:\n${output}`)),
      STARTUP_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = announce.exec(output)?.[1];
      if (found) {
        clearTimeout(timer);
        resolveUrl(found);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before listening:\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      const timeout = new Promise<null>((done) => setTimeout(() => done(null), EXIT_MS).unref());
      return Promise.race([exited, timeout]);
    },
  };
}

/** What the examples answer (a rejection has `error` instead; `toEqual` checks that). */
type Body = Record<string, unknown> & { photodna: { status: string }; stored?: string };

/**
 * One file part, its name sent as RFC 5987 `filename*`: that form carries any character, a
 * line break included, where a browser's `filename="..."` percent-escapes it.
 */
async function upload(
  url: string,
  field: string,
  bytes: Buffer,
  name: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Body }> {
  const boundary = `pdg-${Math.random().toString(36).slice(2)}`;
  const head =
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; ` +
    `filename*=UTF-8''${encodeURIComponent(name)}\r\nContent-Type: image/png\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Body };
}

/** A line an uploader tries to forge in the server's log through the name of a matched file. */
const FORGED = 'FORGED log line';
const clean = (url: string, field: string) => upload(url, field, CLEAN, 'clean.png');
const known = (url: string, field: string) =>
  upload(url, field, TEST_IMAGE, `test-image.png\n${FORGED}`);

/** A match is answered like an unreadable image (issue 11: the answer is no oracle). */
const REJECTED = { error: { code: 'INVALID_IMAGE', message: expect.any(String) } };

/**
 * The match was logged, but never the image bytes (a Buffer dump, its JSON or its base64), and
 * the uploader's file name could not start a line of its own.
 */
function expectSafeLogs(output: string): void {
  expect(output).not.toContain('<Buffer');
  expect(output).not.toContain('"type":"Buffer"');
  expect(output).not.toContain(TEST_IMAGE.subarray(0, 600).toString('base64').slice(0, 64));
  expect(output).not.toMatch(new RegExp(`^${FORGED}`, 'm'));
}

/** Under 'flag' the handler runs (without the file), and its answer does not say it matched. */
function expectFlaggedQuietly(answer: { status: number; body: Body }): void {
  expect(answer.status).toBe(200);
  expect(JSON.stringify(answer.body)).not.toMatch(/match|photodna/i);
}

/** Sends `request` as raw bytes; what came back before the server closed the connection. */
function rawRequest(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolveAnswer, reject) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () => socket.end(request));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.once('close', () => resolveAnswer(answer));
    socket.once('error', reject);
  });
}

function records(dir: string): Array<Record<string, unknown>> {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')));
}

/** Logs in to the demo's console with the one-time token it printed. */
function consoleLogin(app: Example): Promise<Response> {
  const token = /Console token \(shown once\): (\S+)/.exec(app.output())?.[1] ?? '';
  return fetch(`${app.url}/console/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
}

async function stopCleanly(example: Example): Promise<void> {
  expect(await example.stop(), example.output()).toBe(0);
}

describe('examples (smoke)', () => {
  it('express-global: app.use(guard) accepts a clean image and rejects a test image', async () => {
    const app = await start('examples/express-global/server.mjs');
    const ok = await clean(`${app.url}/upload`, 'image');
    expect(ok.status).toBe(200);
    expect(ok.body.photodna.status).toBe('clean');
    expect(await known(`${app.url}/upload`, 'image')).toEqual({ status: 422, body: REJECTED });
    expect(app.output()).toMatch(/match: POST \/upload/);
    expectSafeLogs(app.output());
    await stopCleanly(app);
  });

  for (const script of ['server.mjs', 'path-rules.mjs']) {
    it(`per-route-policies/${script}: flag, quarantine and block`, async () => {
      const quarantine = tempDir();
      const app = await start(`examples/per-route-policies/${script}`, {
        QUARANTINE_DIR: quarantine,
      });
      expectFlaggedQuietly(await known(`${app.url}/chat/messages`, 'image'));
      expect(app.output()).toMatch(/match \(flag\): POST \/chat\/messages/);
      expect(await known(`${app.url}/profile/photo`, 'photo')).toEqual({
        status: 422,
        body: REJECTED,
      });
      expect(records(quarantine)).toEqual([
        expect.objectContaining({ route: '/profile/photo', policy: 'quarantine' }),
      ]);
      expect(await known(`${app.url}/posts`, 'image')).toEqual({ status: 422, body: REJECTED });
      const ok = await clean(`${app.url}/posts`, 'image');
      expect(ok.status).toBe(200);
      expect(ok.body.photodna.status).toBe('clean');
      expectSafeLogs(app.output());
      await stopCleanly(app);
    });
  }

  it('own-multer: guard.scan() after multer deletes a rejected file from disk', async () => {
    const uploads = join(tempDir(), 'uploads');
    const app = await start('examples/own-multer/server.mjs', { UPLOAD_DIR: uploads });
    // Private: files multer writes wait there unchecked, with the default file mode.
    expect(statSync(uploads).mode & 0o777).toBe(0o700);
    const ok = await clean(`${app.url}/photos`, 'photo');
    expect(ok.status).toBe(200);
    expect(readdirSync(uploads)).toEqual([ok.body.stored]);
    expect(await known(`${app.url}/photos`, 'photo')).toEqual({ status: 422, body: REJECTED });
    expect(readdirSync(uploads)).toEqual([ok.body.stored]);
    const listed = await fetch(`${app.url}/photos`).then((r) => r.json());
    expect(listed).toEqual({ files: [ok.body.stored] });
    expectSafeLogs(app.output());
    await stopCleanly(app);
  });

  it('Express examples: an error a middleware passes on is answered as JSON without its stack, and logged', async () => {
    /** Its answer, which must name no file, function or stack frame. */
    const answered = async (response: Response) => {
      const text = await response.text();
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(text).not.toMatch(/node_modules|\bat \S+ \(|Error:/);
      return { status: response.status, body: JSON.parse(text) };
    };
    // express.json() refusing malformed JSON (Express's own handler sent its stack as HTML).
    const global = await start('examples/express-global/server.mjs');
    const json = await fetch(`${global.url}/comments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{bad',
    });
    expect(await answered(json)).toEqual({
      status: 400,
      body: { error: { code: 'BAD_REQUEST', message: 'Bad Request' } },
    });
    expect(global.output()).toMatch(/POST \/comments failed: SyntaxError/);
    await stopCleanly(global);
    // multer's own parser failing on a body that is not valid multipart (busboy's plain errors,
    // no MulterError): the client's fault, 400 as the guard's own parser answers (SPEC 3.3), not
    // logged as a failure. A server-side one (the upload directory gone) stays 500, logged.
    const uploads = join(tempDir(), 'uploads');
    const own = await start('examples/own-multer/server.mjs', { UPLOAD_DIR: uploads });
    const post = (body: string) =>
      fetch(`${own.url}/photos`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=xx' },
        body,
      });
    const part = '--xx\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\n';
    const malformed = {
      status: 400,
      body: { error: { code: 'MALFORMED_MULTIPART', message: 'The multipart body is malformed.' } },
    };
    // Cut short ("Unexpected end of form"), and a part header with a space in a name ("Malformed
    // part header").
    expect(await answered(await post(`${part}\r\nabc`))).toEqual(malformed);
    expect(await answered(await post(`--xx\r\nBad Header: x\r\n\r\nabc\r\n--xx--\r\n`))).toEqual(
      malformed,
    );
    expect(own.output()).not.toMatch(/failed/);
    rmSync(uploads, { recursive: true });
    expect(await answered(await post(`${part}\r\nabc\r\n--xx--\r\n`))).toEqual({
      status: 500,
      body: { error: { code: 'INTERNAL', message: 'Internal Server Error' } },
    });
    expect(own.output()).toMatch(/POST \/photos failed: \[?Error: ENOENT/);
    await stopCleanly(own);
  });

  it('koa-router: guard.single() per route, ctx.state.photodna', async () => {
    const app = await start('examples/koa-router/server.mjs');
    const ok = await clean(`${app.url}/photos`, 'photo');
    expect(ok).toMatchObject({ status: 200, body: { received: 'clean.png' } });
    expect(ok.body.photodna.status).toBe('clean');
    expect(await known(`${app.url}/photos`, 'photo')).toEqual({ status: 422, body: REJECTED });
    const flagged = await known(`${app.url}/chat/messages`, 'image');
    expect(flagged).toMatchObject({ status: 200, body: { image: null } });
    expectFlaggedQuietly(flagged);
    expect(app.output()).toMatch(/match: POST \/chat\/messages .*policy=flag/);
    expectSafeLogs(app.output());
    await stopCleanly(app);
  });

  it('fastify: the plugin per route config, request.photodna', async () => {
    const app = await start('examples/fastify/server.mjs');
    const ok = await clean(`${app.url}/photos`, 'photo');
    expect(ok).toMatchObject({ status: 200, body: { received: 'clean.png' } });
    expect(ok.body.photodna.status).toBe('clean');
    expect(await known(`${app.url}/photos`, 'photo')).toEqual({ status: 422, body: REJECTED });
    const flagged = await known(`${app.url}/chat/messages`, 'image');
    expect(flagged).toMatchObject({ status: 200, body: { images: [] } });
    expectFlaggedQuietly(flagged);
    expect(app.output()).toMatch(/match: POST \/photos/);
    expectSafeLogs(app.output());
    await stopCleanly(app);
  });

  it('nextjs-route: POST(request) with guard.check(), the sniffed type on the File', async () => {
    const app = await start('examples/nextjs-route/server.mjs');
    const ok = await upload(`${app.url}/upload`, 'photo', CLEAN, 'clean.txt');
    expect(ok.status).toBe(200);
    expect(ok.body.received).toEqual({ name: 'clean.txt', type: 'image/png', size: CLEAN.length });
    expect(ok.body.photodna.status).toBe('clean');
    expect(await known(`${app.url}/upload`, 'photo')).toEqual({ status: 422, body: REJECTED });
    expectSafeLogs(app.output());
    await stopCleanly(app);
  });

  it('nextjs-route: the uploader is the address the request came from, not a forged X-Forwarded-For', async () => {
    const app = await start('examples/nextjs-route/server.mjs');
    const forged = { 'x-forwarded-for': '203.0.113.9' };
    const answer = await upload(`${app.url}/upload`, 'photo', TEST_IMAGE, 'x.png', forged);
    expect(answer).toEqual({ status: 422, body: REJECTED });
    expect(app.output()).toMatch(/match: POST \/upload "x\.png" ip=127\.0\.0\.1 /);
    expect(app.output()).not.toContain('203.0.113.9');
    await stopCleanly(app);
  });

  it('nextjs-route: a Host header no URL can hold answers 500, and the server stays up', async () => {
    const app = await start('examples/nextjs-route/server.mjs');
    const answer = await rawRequest(
      app.url,
      'POST /upload HTTP/1.1\r\nHost: a b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 500 /);
    expect((await clean(`${app.url}/upload`, 'photo')).status).toBe(200);
    await stopCleanly(app);
  });

  it('ncmec-report: quarantines, files a test report and the CLI lists it', async () => {
    const quarantine = tempDir();
    const app = await start('examples/ncmec-report/server.mjs', { QUARANTINE_DIR: quarantine });
    expect((await clean(`${app.url}/upload`, 'image')).status).toBe(200);
    expect(await known(`${app.url}/upload`, 'image')).toEqual({ status: 422, body: REJECTED });
    expect(app.output()).toMatch(/tracking id \S+, status 3000/);
    expectSafeLogs(app.output());
    await stopCleanly(app);
    const listed = JSON.parse(
      execFileSync(
        process.execPath,
        ['dist/cli/main.js', 'quarantine', 'list', '--dir', quarantine, '--json'],
        { cwd: root, encoding: 'utf8' },
      ),
    );
    expect(listed).toEqual([
      expect.objectContaining({
        route: '/upload',
        report: expect.objectContaining({ status: 'reported', isTest: true }),
      }),
    ]);
  });

  it('ncmec-report: against the real service, no demo credentials: the report fails, evidence kept', async () => {
    const service = await realService();
    const quarantine = tempDir();
    const app = await start('examples/ncmec-report/server.mjs', {
      QUARANTINE_DIR: quarantine,
      PHOTODNA_BASE_URL: service.url,
      PHOTODNA_API_KEY: 'a-real-key',
    });
    expect(await known(`${app.url}/upload`, 'image')).toEqual({ status: 422, body: REJECTED });
    expect(app.output()).toMatch(/report for incident \S+ failed/);
    expect(service.reports).toEqual([]);
    expect(service.testReports).toEqual([]);
    expect(records(quarantine)).toHaveLength(1);
    await stopCleanly(app);
  });

  it('production: a NCMEC_TEST other than true or false stops startup (no real report by typo)', async () => {
    const env = { QUARANTINE_DIR: tempDir(), NCMEC_TEST: 'yes' };
    await expect(start('examples/production/server.mjs', env)).rejects.toThrow(
      /exited \(1\) before listening[\s\S]*NCMEC_TEST must be 'true' or 'false'/,
    );
  });

  it('production: env config, JSON logs, quarantine, reporting, graceful shutdown', async () => {
    const quarantine = tempDir();
    const app = await start('examples/production/server.mjs', {
      QUARANTINE_DIR: quarantine,
      PHOTODNA_ORG_NAME: 'Example Inc.',
      PHOTODNA_REPORTER_NAME: 'Trust and Safety',
      PHOTODNA_REPORTER_EMAIL: 'ts@example.com',
      NCMEC_USER: 'smoke-user',
      NCMEC_PASSWORD: 'smoke-password-123',
    });
    const ok = await clean(`${app.url}/photos`, 'photo');
    expect(ok.status).toBe(201);
    expect(ok.body.photodna.status).toBe('clean');
    expect(await known(`${app.url}/photos`, 'photo')).toEqual({ status: 422, body: REJECTED });
    expect(records(quarantine)).toEqual([
      expect.objectContaining({ report: expect.objectContaining({ status: 'reported' }) }),
    ]);
    await stopCleanly(app);
    const lines = app
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    const messages = lines.map((line) => line.msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/LOCAL PHOTODNA EMULATOR/),
        'PhotoDNA match',
        'upload quarantined',
        'NCMEC report filed',
        'stopped',
      ]),
    );
    expect(app.output()).not.toContain('smoke-password-123');
    expectSafeLogs(app.output());
  });

  it('the demo answers its upload page and rejects a shipped test image', async () => {
    const app = await start('examples/demo/server.mjs', { PORT: '0' });
    const page = await fetch(`${app.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<form[^>]*action="\/upload"/);
    expect((await clean(`${app.url}/upload`, 'image')).status).toBe(200);
    expect(await known(`${app.url}/upload`, 'image')).toEqual({ status: 422, body: REJECTED });
    // The moderators' console at /console, behind the one-time token the demo printed.
    const consolePage = await fetch(`${app.url}/console/`);
    expect(consolePage.headers.get('x-frame-options')).toBe('DENY');
    expect((await fetch(`${app.url}/console/api/incidents`)).status).toBe(401);
    const login = await consoleLogin(app);
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const list = await fetch(`${app.url}/console/api/incidents`, { headers: { cookie } });
    expect(((await list.json()) as { total: number }).total).toBe(1);
    // The deferred route accepts at once; the guard's worker scans later and logs the match.
    const deferred = await known(`${app.url}/upload-deferred`, 'image');
    expect(deferred.status).toBe(200);
    expect(deferred.body.photodna.status).toBe('pending');
    const deadline = Date.now() + 15_000;
    while (!/\[match\] \(deferred scan/.test(app.output()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(app.output()).toMatch(/\[match\] \(deferred scan [\w-]+\)/);
    expectSafeLogs(app.output());
    await stopCleanly(app);
  });

  it('metrics: GET /metrics on its own port answers Prometheus text with the scans counted', async () => {
    const app = await start('examples/metrics/server.mjs', { METRICS_PORT: '0' });
    const metrics = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(app.output())?.[1];
    expect(metrics, app.output()).toBeDefined();
    expect((await clean(`${app.url}/upload`, 'image')).status).toBe(200);
    // Not on the uploaders' port: matches_total would tell them that an upload matched.
    expect((await fetch(`${app.url}/metrics`)).status).toBe(404);
    const res = await fetch(metrics ?? '');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toMatch(
      /photodna_guard_scans_total\{outcome="clean",route="\/upload",deferred="false"\} 1/,
    );
    await stopCleanly(app);
  });

  it('the demo without a key: a list from `photodna-guard pdq hash`, then PDQ_LIST=list.txt', async () => {
    // A key left in the developer's shell: the PDQ-only demo must still call no PhotoDNA at all
    // (this emulator stands in for the real service) and offer no reporting through it.
    const service = await realService();
    const dir = tempDir();
    const photo = join(root, 'test/fixtures/pdq/scene6.jpg');
    const list = join(dir, 'list.txt');
    const line = execFileSync(process.execPath, ['dist/cli/main.js', 'pdq', 'hash', photo], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(line).toMatch(/^pdq [0-9a-f]{64} \d+ /);
    writeFileSync(list, line);
    const app = await start('examples/demo/server.mjs', {
      PDQ_LIST: list,
      PHOTODNA_API_KEY: 'a-key-in-your-shell',
      PHOTODNA_BASE_URL: service.url,
    });
    const copy = await sharp(readFileSync(photo)).resize(300).jpeg({ quality: 70 }).toBuffer();
    expect(await upload(`${app.url}/upload`, 'image', copy, 'copy.jpg')).toEqual({
      status: 422,
      body: REJECTED,
    });
    const ok = await clean(`${app.url}/upload`, 'image');
    expect(ok.status).toBe(200);
    expect(ok.body.photodna).toMatchObject({
      status: 'clean',
      files: [{ pdq: { hash: expect.stringMatching(/^[0-9a-f]{64}$/) } }],
    });
    expect(app.output()).toMatch(/\[match\] .*"source":"mine"/);
    expect(app.output()).not.toMatch(/emulator/i);
    const login = await consoleLogin(app);
    expect(await login.json()).toMatchObject({ reporting: { configured: false } });
    await stopCleanly(app);
    expect(service.calls).toEqual([]);
  });
});
