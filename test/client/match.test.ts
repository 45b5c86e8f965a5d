import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testImages } from '../../src/emulator/index.js';
import { gif, jpg, png } from '../fixtures/images.js';
import { API_KEY, type Harness, harness, hashOf, recordingProxy, serviceError } from './helpers.js';

let h: Harness;
const known = png(200, 200, 42);
const knownHashes = [hashOf('k1'), hashOf('k2')];

beforeEach(async () => {
  h = await harness({ known: { images: [known], hashes: knownHashes } });
});
afterEach(() => h.close());

describe('PhotoDnaClient.match', () => {
  it('answers clean for unknown bytes and match for known ones', async () => {
    const client = h.client();
    const clean = await client.match(png(200, 200, 1), 'image/png');
    expect(clean).toMatchObject({ isMatch: false, matchFlags: [], statusCode: 3000 });
    expect(clean.trackingId).toMatch(/^1_photodna_/);

    const match = await client.match(known, 'image/png');
    expect(match.isMatch).toBe(true);
    expect(match.matchFlags).toEqual([
      expect.objectContaining({ source: 'Test', violations: ['A1'], matchDistance: 0 }),
    ]);
    expect(match.matchFlags[0]?.matchId).toEqual(expect.any(String));
  });

  it('matches the shipped test images', async () => {
    const image = testImages()[0];
    if (!image) throw new Error('no test image');
    expect((await h.client().match(image.bytes, 'image/png')).isMatch).toBe(true);
  });

  it('sends the content type it is given, and the subscription key', async () => {
    const client = h.client();
    await client.match(jpg(200, 200, 3), 'image/jpeg');
    await client.match(gif(200, 200, 3), 'image/gif');
    expect(h.emulator.calls.map((c) => c.contentType)).toEqual(['image/jpeg', 'image/gif']);
    expect(h.emulator.calls.every((c) => c.key === API_KEY)).toBe(true);
  });

  it('posts v2 to /v2/PhotoDNA/Match and v1 to /photodna/v1.0/Match', async () => {
    await h.client().match(png(), 'image/png');
    await h.client({ apiVersion: 'v1' }).match(png(), 'image/png');
    expect(h.emulator.calls.map((c) => [c.operation, c.path])).toEqual([
      ['match-v2', '/v2/PhotoDNA/Match'],
      ['match-v1', '/photodna/v1.0/Match'],
    ]);
  });

  it('sends enhance and Enable-Evaluation upstream', async () => {
    const proxy = await recordingProxy(h.emulator.url);
    try {
      const plain = await h.client({ baseUrl: proxy.url }).match(png(), 'image/png');
      const tuned = h.client({ baseUrl: proxy.url, enhance: true, evaluation: 'always' });
      const evaluated = await tuned.match(png(), 'image/png');
      expect(proxy.seen.map((r) => r.url)).toEqual([
        '/v2/PhotoDNA/Match?enhance=false',
        '/v2/PhotoDNA/Match?enhance=true',
      ]);
      expect(proxy.seen.map((r) => r.headers['enable-evaluation'])).toEqual([undefined, 'always']);
      expect(plain.evaluateResponse).toBeNull();
      expect(evaluated.evaluateResponse).toMatchObject({
        AdvancedInfo: [{ Key: 'EvaluationMode', Value: 'always' }],
      });
    } finally {
      await proxy.close();
    }
  });

  it('keeps a path prefix of baseUrl', async () => {
    const proxy = await recordingProxy(h.emulator.url);
    try {
      await h.client({ baseUrl: `${proxy.url}/` }).match(png(), 'image/png');
      expect(proxy.seen[0]?.url).toBe('/v2/PhotoDNA/Match?enhance=false');
    } finally {
      await proxy.close();
    }
  });

  it('refuses a content type PhotoDNA does not take, and bytes over 4 MiB, without a call', async () => {
    const client = h.client();
    // @ts-expect-error: not an ImageMimeType
    await expect(client.match(png(), 'image/webp')).rejects.toBeInstanceOf(TypeError);
    const huge = await serviceError(client.match(Buffer.alloc(4 * 1024 * 1024 + 1), 'image/png'));
    expect(huge).toMatchObject({ guardCode: 'FILE_TOO_LARGE', retryable: false });
    expect(h.emulator.calls).toHaveLength(0);
  });
});

describe('PhotoDnaClient.matchUrl', () => {
  it('sends the URL form and parses the answer', async () => {
    // The emulator's URL form fetches only its own test images and allow-listed hosts.
    const image = testImages()[0];
    const result = await h
      .client()
      .matchUrl(`${h.emulator.url}/__emulator/test-images/${image?.name}`);
    expect(result.isMatch).toBe(true);
    expect(h.emulator.calls[0]?.contentType).toBe('application/json');
  });

  it('refuses what is not an http(s) URL', async () => {
    await expect(h.client().matchUrl('file:///etc/passwd')).rejects.toBeInstanceOf(TypeError);
  });
});

describe('PhotoDnaClient.matchHashes', () => {
  it('sends 12 hashes as 3 calls and answers in input order', async () => {
    const hashes = Array.from({ length: 12 }, (_, i) => hashOf(`h${i}`));
    hashes[3] = knownHashes[0] as string;
    hashes[11] = knownHashes[1] as string;
    const results = await h.client().matchHashes(hashes);
    expect(h.emulator.calls.map((c) => c.operation)).toEqual([
      'match-hash',
      'match-hash',
      'match-hash',
    ]);
    expect(results.map((r) => r.isMatch)).toEqual(hashes.map((_, i) => i === 3 || i === 11));
    expect(results[3]?.matchFlags[0]).toMatchObject({ source: 'Test', matchDistance: 0 });
  });

  it('makes no call for no hashes', async () => {
    expect(await h.client().matchHashes([])).toEqual([]);
    expect(h.emulator.calls).toHaveLength(0);
  });

  it('throws the service refusal of a bad hash instead of a clean result', async () => {
    const error = await serviceError(h.client().matchHashes([hashOf('a'), 'bm90LWEtaGFzaA==']));
    expect(error).toMatchObject({ statusCode: 3002, reason: 'bad-request', retryable: false });
  });
});

describe('PhotoDnaClient.asMatcher', () => {
  it('matches a guard request with its signal', async () => {
    const matcher = h.client().asMatcher();
    const signal = new AbortController().signal;
    const file = {
      field: 'f',
      originalname: 'a.png',
      mimetype: 'image/png' as const,
      size: 1,
      width: 200,
      height: 200,
      sha256: '',
    };
    const result = await matcher.match({ bytes: known, contentType: 'image/png', file, signal });
    expect(result).toMatchObject({ isMatch: true, trackingId: expect.any(String) });
  });
});
