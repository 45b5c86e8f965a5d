import { describe, expect, it } from 'vitest';
import { testImages } from '../../src/emulator/index.js';
import { bmp, gif, hostile, jpg, pixelFloodPng, png, tiff } from '../fixtures/images.js';
import { call, emulator, matchImage, PATHS } from './helpers.js';

const FOUR_MB = 4 * 1024 * 1024;

describe('Match v1 and v2 with raw image bytes', () => {
  const formats = [
    ['image/png', png],
    ['image/jpeg', jpg],
    ['image/gif', gif],
    ['image/bmp', bmp],
    ['image/tiff', tiff],
  ] as const;

  for (const path of [PATHS.v1, PATHS.v2]) {
    for (const [type, make] of formats) {
      it(`${path} answers 3000 and no match for an unknown ${type}`, async () => {
        const emu = await emulator();
        const answer = await matchImage(emu, make(200, 200, 7), type, path);
        expect(answer.status).toBe(200);
        expect(answer.headers['content-type']).toMatch(/^application\/json/);
        expect(answer.json).toEqual({
          Status: { Code: 3000, Description: 'OK', Exception: null },
          TrackingId: expect.stringMatching(/^1_photodna_[0-9a-f-]{36}$/),
          ContentId: null,
          IsMatch: false,
          MatchDetails: { AdvancedInfo: [], MatchFlags: [] },
          EvaluateResponse: null,
        });
      });
    }
  }

  it('reports a shipped test image as a match from source Test, on both versions', async () => {
    const emu = await emulator();
    for (const path of [PATHS.v1, PATHS.v2]) {
      for (const image of testImages()) {
        const answer = await matchImage(emu, image.bytes, 'image/png', path);
        expect(answer.json.Status.Code).toBe(3000);
        expect(answer.json.IsMatch).toBe(true);
        expect(answer.json.MatchDetails.MatchFlags).toEqual([
          {
            AdvancedInfo: [{ Key: 'MatchId', Value: expect.stringMatching(/^\d{6}$/) }],
            Source: 'Test',
            Violations: ['A1'],
            MatchDistance: 0,
          },
        ]);
      }
    }
    expect(emu.calls.map((c) => c.isMatch)).toEqual([true, true, true, true, true, true]);
  });

  it('gives each known image a stable MatchId across restarts', async () => {
    const image = testImages()[0];
    if (!image) throw new Error('no test image');
    const first = await matchImage(await emulator(), image.bytes);
    const second = await matchImage(await emulator(), image.bytes);
    const id = (a: typeof first) => a.json.MatchDetails.MatchFlags[0].AdvancedInfo[0].Value;
    expect(id(first)).toBe(id(second));
  });

  it('accepts enhance=true and enhance=false, and refuses any other value with 3002', async () => {
    const emu = await emulator();
    for (const value of ['true', 'false', 'TRUE']) {
      const answer = await matchImage(emu, png(), 'image/png', `${PATHS.v2}?enhance=${value}`);
      expect(answer.json.Status.Code).toBe(3000);
    }
    for (const query of ['?enhance=yes', '?enhance=', '?enhance=true&enhance=false']) {
      const answer = await matchImage(emu, png(), 'image/png', `${PATHS.v1}${query}`);
      expect(answer.status).toBe(200);
      expect(answer.json.Status).toMatchObject({
        Code: 3002,
        Description: 'Invalid or missing request parameter(s)',
      });
    }
  });

  it('gives every answer a unique TrackingId', async () => {
    const emu = await emulator({ rateLimit: false });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => matchImage(emu, png(200, 200, i % 3))),
    );
    const ids = new Set(answers.map((a) => a.json.TrackingId));
    expect(ids.size).toBe(40);
  });
});

describe('Match status codes', () => {
  it('answers 3206 for bytes that are not an image, whatever the Content-Type says', async () => {
    const emu = await emulator({ rateLimit: false });
    const cases: Array<[Buffer, string]> = [
      [hostile.executable(), 'image/png'],
      [hostile.html(), 'image/gif'],
      [hostile.svg(), 'image/png'],
      [hostile.webp(), 'image/jpeg'],
      [hostile.pdf(), 'image/tiff'],
      [hostile.truncatedJpeg(), 'image/jpeg'],
      [hostile.gifPolyglot(), 'image/gif'],
      [Buffer.from(png()).subarray(0, 60), 'image/png'],
    ];
    for (const [bytes, type] of cases) {
      const answer = await matchImage(emu, bytes, type);
      expect(answer.status).toBe(200);
      expect(answer.json.Status).toEqual({
        Code: 3206,
        Description: 'The given file could not be verified as an image',
        Exception: null,
      });
      expect(answer.json.IsMatch).toBe(false);
    }
  });

  it('answers 3208 under 160x160 pixels, and accepts exactly 160x160', async () => {
    const emu = await emulator({ rateLimit: false });
    for (const [w, h] of [
      [159, 400],
      [400, 159],
      [20, 20],
    ] as const) {
      const answer = await matchImage(emu, png(w, h));
      expect(answer.json.Status.Code).toBe(3208);
      expect(answer.json.Status.Description).toMatch(/160x160/);
    }
    expect((await matchImage(emu, jpg(160, 160), 'image/jpeg')).json.Status.Code).toBe(3000);
  });

  it('answers 3208 over 4 MB, and accepts exactly 4,194,304 bytes', async () => {
    const emu = await emulator();
    const atLimit = png(200, 200, 1, FOUR_MB);
    expect(atLimit.length).toBe(FOUR_MB);
    expect((await matchImage(emu, atLimit)).json.Status.Code).toBe(3000);
    const over = png(200, 200, 1, FOUR_MB + 1);
    expect((await matchImage(emu, over)).json.Status.Code).toBe(3208);
  });

  it('answers 3208 for a pixel-flood header (50,000 x 50,000 pixels, almost no data)', async () => {
    const emu = await emulator();
    const answer = await matchImage(emu, pixelFloodPng());
    expect(answer.json.Status.Code).toBe(3208);
    expect(answer.json.Status.Exception).toMatch(/50000x50000/);
  });

  it('answers 3002 for a missing, unsupported or empty body type', async () => {
    const emu = await emulator({ rateLimit: false });
    const noType = await call(emu, PATHS.v2, { body: png(), contentType: null });
    expect(noType.json.Status.Code).toBe(3002);
    for (const type of [
      'image/webp',
      'text/plain',
      'application/octet-stream',
      'multipart/form-data',
    ]) {
      expect((await matchImage(emu, png(), type)).json.Status.Code).toBe(3002);
    }
    expect((await matchImage(emu, Buffer.alloc(0))).json.Status.Code).toBe(3002);
  });

  it('accepts Content-Type parameters and case', async () => {
    const emu = await emulator();
    expect((await matchImage(emu, png(), 'Image/PNG; charset=binary')).json.Status.Code).toBe(3000);
  });
});

describe('Enable-Evaluation', () => {
  for (const mode of ['always', 'afterinitialquota', 'Always']) {
    it(`adds an EvaluateResponse object for "${mode}"`, async () => {
      const emu = await emulator();
      const answer = await matchImage(emu, png(), 'image/png', PATHS.v2, {
        'enable-evaluation': mode,
      });
      expect(answer.json.Status.Code).toBe(3000);
      const evaluation = answer.json.EvaluateResponse;
      expect(evaluation).toMatchObject({
        AdultClassificationScore: expect.any(Number),
        IsImageAdultClassified: false,
        RacyClassificationScore: expect.any(Number),
        IsImageRacyClassified: false,
        Status: { Code: 3000 },
        TrackingId: answer.json.TrackingId,
      });
      expect(evaluation.AdultClassificationScore).toBeGreaterThanOrEqual(0);
      expect(evaluation.AdultClassificationScore).toBeLessThan(0.1);
    });
  }

  it('answers 3002 for any other value', async () => {
    const emu = await emulator();
    const answer = await matchImage(emu, png(), 'image/png', PATHS.v1, {
      'enable-evaluation': 'sometimes',
    });
    expect(answer.json.Status.Code).toBe(3002);
    expect(answer.json.EvaluateResponse).toBeNull();
  });
});

describe('routing', () => {
  it('answers 404 in API Management form for unknown paths and other methods', async () => {
    const emu = await emulator();
    const unknown = await call(emu, '/photodna/v1.0/Nope', {
      body: png(),
      contentType: 'image/png',
    });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ statusCode: 404, message: 'Resource not found' });
    const get = await call(emu, PATHS.v2, { method: 'GET' });
    expect(get.status).toBe(404);
    expect(emu.calls).toHaveLength(0);
  });

  it('matches API paths case-insensitively, like API Management', async () => {
    const emu = await emulator();
    expect(
      (await matchImage(emu, png(), 'image/png', '/PHOTODNA/V1.0/match')).json.Status.Code,
    ).toBe(3000);
    expect(emu.calls[0]?.operation).toBe('match-v1');
  });

  it('refuses a body over 8 MB with an API Management 413', async () => {
    const emu = await emulator();
    const answer = await matchImage(emu, Buffer.alloc(8 * 1024 * 1024 + 1));
    expect(answer.status).toBe(413);
    expect(answer.json).toEqual({ statusCode: 413, message: expect.any(String) });
    expect(emu.calls[0]?.httpStatus).toBe(413);
  });
});
