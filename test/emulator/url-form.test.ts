import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { testImages } from '../../src/emulator/index.js';
import { hostile, png } from '../fixtures/images.js';
import { emulator, PATHS, postJson } from './helpers.js';

/** A tiny loopback image host that counts its hits. */
interface ImageHost {
  port: number;
  hits: string[];
}

const hosts: Server[] = [];
afterEach(async () => {
  await Promise.all(
    hosts.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  );
});

async function imageHost(
  files: Record<string, { bytes: Buffer; status?: number; location?: string }>,
): Promise<ImageHost> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const file = files[req.url ?? ''];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(file.status ?? 200, {
      'content-type': 'image/png',
      ...(file.location ? { location: file.location } : {}),
    });
    res.end(file.bytes);
  });
  hosts.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, hits };
}

const urlForm = (url: string) => ({ DataRepresentation: 'URL', Value: url });

describe('Match with the JSON URL form', () => {
  it('downloads an image from an allow-listed loopback host and matches it (v1 and v2)', async () => {
    const known = testImages()[0];
    if (!known) throw new Error('no test image');
    const host = await imageHost({
      '/known.png': { bytes: known.bytes },
      '/clean.png': { bytes: png() },
    });
    const emu = await emulator({
      urlAllowList: [`127.0.0.1:${host.port}`, `localhost:${host.port}`],
    });
    for (const path of [PATHS.v1, PATHS.v2]) {
      const match = await postJson(emu, path, urlForm(`http://127.0.0.1:${host.port}/known.png`));
      expect(match.json.Status.Code).toBe(3000);
      expect(match.json.IsMatch).toBe(true);
      const clean = await postJson(emu, path, urlForm(`http://localhost:${host.port}/clean.png`));
      expect(clean.json.Status.Code).toBe(3000);
      expect(clean.json.IsMatch).toBe(false);
    }
    expect(host.hits).toEqual(['/known.png', '/clean.png', '/known.png', '/clean.png']);
  });

  it('ssrf: answers 3002 without any fetch for any URL off the allow-list, loopback included', async () => {
    const host = await imageHost({ '/a.png': { bytes: png() } });
    const emu = await emulator({ rateLimit: false });
    for (const url of [
      `http://127.0.0.1:${host.port}/a.png`,
      `http://localhost:${host.port}/a.png`,
      `http://[::1]:${host.port}/a.png`,
      `${emu.url}/__emulator/calls`,
    ]) {
      expect((await postJson(emu, PATHS.v2, urlForm(url))).json.Status.Code, url).toBe(3002);
    }
    // 0.0.0.0 reaches this machine, so a fetch would be seen by the image host.
    const answer = await postJson(emu, PATHS.v2, urlForm(`http://0.0.0.0:${host.port}/a.png`));
    expect(answer.json.Status.Code).toBe(3002);
    const remote = await postJson(
      emu,
      PATHS.v2,
      urlForm('https://pdnasampleimages.blob.core.windows.net/x.jpg'),
    );
    expect(remote.json.Status.Code).toBe(3002);
    expect(host.hits).toEqual([]);
  });

  it('fetches from an allow-listed host', async () => {
    const host = await imageHost({ '/a.png': { bytes: png() } });
    const emu = await emulator({ urlAllowList: ['0.0.0.0'] });
    const answer = await postJson(emu, PATHS.v2, urlForm(`http://0.0.0.0:${host.port}/a.png`));
    expect(answer.json.Status.Code).toBe(3000);
    expect(host.hits).toEqual(['/a.png']);
  });

  it('does not follow redirects (they could leave the allow-list)', async () => {
    const host = await imageHost({
      '/moved': { bytes: Buffer.alloc(0), status: 302, location: '/a.png' },
      '/a.png': { bytes: png() },
    });
    const emu = await emulator({ urlAllowList: [`127.0.0.1:${host.port}`] });
    const answer = await postJson(emu, PATHS.v2, urlForm(`http://127.0.0.1:${host.port}/moved`));
    expect(answer.json.Status.Code).toBe(3002);
    expect(host.hits).toEqual(['/moved']);
  });

  it('answers 3206 for a downloaded non-image, 3208 for a small one, 3002 for a 404', async () => {
    const host = await imageHost({
      '/exe': { bytes: hostile.executable() },
      '/small.png': { bytes: png(50, 50) },
    });
    const emu = await emulator({ urlAllowList: [`127.0.0.1:${host.port}`] });
    const base = `http://127.0.0.1:${host.port}`;
    expect((await postJson(emu, PATHS.v2, urlForm(`${base}/exe`))).json.Status.Code).toBe(3206);
    expect((await postJson(emu, PATHS.v2, urlForm(`${base}/small.png`))).json.Status.Code).toBe(
      3208,
    );
    expect((await postJson(emu, PATHS.v2, urlForm(`${base}/missing`))).json.Status.Code).toBe(3002);
  });

  it("fetches this emulator's own test images by default", async () => {
    const emu = await emulator();
    const image = testImages()[0];
    const answer = await postJson(
      emu,
      PATHS.v2,
      urlForm(`${emu.url}/__emulator/test-images/${image?.name}`),
    );
    expect(answer.json.Status.Code).toBe(3000);
    expect(answer.json.IsMatch).toBe(true);
  });

  it("fetches its own test images behind a presigned URL's query string too", async () => {
    const emu = await emulator();
    const image = testImages()[0];
    const url = `${emu.url}/__emulator/test-images/${image?.name}?X-Amz-Signature=abc&expires=1`;
    const answer = await postJson(emu, PATHS.v2, urlForm(url));
    expect(answer.json.Status.Code).toBe(3000);
    expect(answer.json.IsMatch).toBe(true);
  });

  it('answers 3002 for a malformed URL form', async () => {
    const emu = await emulator({ rateLimit: false });
    const bodies = [
      {},
      { DataRepresentation: 'URL' },
      { DataRepresentation: 'Hash', Value: 'http://127.0.0.1/' },
      { DataRepresentation: 'URL', Value: 'not a url' },
      { DataRepresentation: 'URL', Value: 'file:///etc/passwd' },
      { DataRepresentation: 'URL', Value: 'ftp://127.0.0.1/a.png' },
      [],
      'http://127.0.0.1/a.png',
    ];
    for (const body of bodies) {
      const answer = await postJson(emu, PATHS.v1, body);
      expect(answer.status).toBe(200);
      expect(answer.json.Status.Code).toBe(3002);
    }
  });
});
