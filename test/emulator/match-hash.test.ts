import { describe, expect, it } from 'vitest';
import { DEFAULT_HASH_THRESHOLD } from '../../src/emulator/index.js';
import { call, emulator, type MatchResultBody, PATHS, postJson } from './helpers.js';

/** A hand-made 144-byte hash. */
const vector = (fill: (i: number) => number): Buffer =>
  Buffer.from(Array.from({ length: 144 }, (_, i) => fill(i)));
const b64 = (bytes: Buffer): string => bytes.toString('base64');
const entry = (value: string) => ({ DataRepresentation: 'Hash', Value: value });

const KNOWN = vector((i) => (i * 37) % 256);
/** KNOWN with byte 0 moved by `delta`: squared distance delta^2 (KNOWN[0] is 0, so delta >= 0). */
const moved = (...deltas: number[]): Buffer => {
  const copy = Buffer.from(KNOWN);
  deltas.forEach((delta, i) => {
    copy[i] = (KNOWN[i] ?? 0) + delta;
  });
  return copy;
};

describe('MatchHash', () => {
  it('matches by squared Euclidean distance at, under and over the threshold', async () => {
    // threshold 100: 10^2 = 100 is at it, 9^2 = 81 under, 10^2 + 1^2 = 101 over.
    const emu = await emulator({ known: { hashes: [b64(KNOWN)] }, hashThreshold: 100 });
    const answer = await postJson(emu, PATHS.hash, [
      entry(b64(KNOWN)),
      entry(b64(moved(9))),
      entry(b64(moved(10))),
      entry(b64(moved(10, 1))),
      entry(b64(vector(() => 255))),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.json.TrackingId).toMatch(/^1_photodna_/);
    const results = answer.json.MatchResults as MatchResultBody[];
    expect(results.map((r) => r.IsMatch)).toEqual([true, true, true, false, false]);
    expect(results.map((r) => r.MatchDetails.MatchFlags[0]?.MatchDistance)).toEqual([
      0,
      81,
      100,
      undefined,
      undefined,
    ]);
    expect(results.every((r) => r.Status.Code === 3000)).toBe(true);
    expect(results[1]?.MatchDetails.MatchFlags[0]).toEqual({
      AdvancedInfo: [{ Key: 'MatchId', Value: expect.stringMatching(/^\d{6}$/) }],
      Source: 'Test',
      Violations: ['A1'],
      MatchDistance: 81,
    });
    expect(emu.calls).toMatchObject([
      { operation: 'match-hash', httpStatus: 200, statusCode: 3000, isMatch: true },
    ]);
  });

  it('reports the smallest distance among several known hashes', async () => {
    const far = moved(8); // distance 64 from KNOWN
    const emu = await emulator({ known: { hashes: [b64(far), b64(KNOWN)] }, hashThreshold: 1_000 });
    const answer = await postJson(emu, PATHS.hash, [entry(b64(moved(3)))]);
    expect(answer.json.MatchResults[0].MatchDetails.MatchFlags).toHaveLength(1);
    expect(answer.json.MatchResults[0].MatchDetails.MatchFlags[0].MatchDistance).toBe(9);
  });

  it(`uses ${DEFAULT_HASH_THRESHOLD} as the default threshold`, async () => {
    const emu = await emulator({ known: { hashes: [b64(vector(() => 0))] } });
    // 144 * 16^2 = 36,864 is under 40,000; 144 * 17^2 = 41,616 is over.
    const answer = await postJson(emu, PATHS.hash, [
      entry(b64(vector(() => 16))),
      entry(b64(vector(() => 17))),
    ]);
    expect(answer.json.MatchResults.map((r: MatchResultBody) => r.IsMatch)).toEqual([true, false]);
  });

  it('answers 3002 for each invalid hash and still checks the others', async () => {
    const emu = await emulator({ known: { hashes: [b64(KNOWN)] } });
    const answer = await postJson(emu, PATHS.hash, [
      entry('not base64!'),
      entry(b64(Buffer.alloc(143))),
      { DataRepresentation: 'URL', Value: b64(KNOWN) },
      42,
      entry(b64(KNOWN)),
    ]);
    const results = answer.json.MatchResults as MatchResultBody[];
    expect(results.map((r) => r.Status.Code)).toEqual([3002, 3002, 3002, 3002, 3000]);
    expect(results.map((r) => r.IsMatch)).toEqual([false, false, false, false, true]);
  });

  it('refuses a batch of more than 5 hashes whole: HTTP 200, Status 3002, no results', async () => {
    const emu = await emulator({ known: { hashes: [b64(KNOWN)] } });
    const answer = await postJson(
      emu,
      PATHS.hash,
      Array.from({ length: 6 }, () => entry(b64(KNOWN))),
    );
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      TrackingId: expect.stringMatching(/^1_photodna_/),
      Status: {
        Code: 3002,
        Description: 'Invalid or missing request parameter(s)',
        Exception: expect.stringMatching(/at most 5/),
      },
      MatchResults: [],
    });
    expect(emu.calls[0]).toMatchObject({ statusCode: 3002, isMatch: false });
  });

  it('refuses an empty batch, a non-array, invalid JSON and a non-JSON Content-Type with 3002', async () => {
    const emu = await emulator();
    const bodies: Array<[string, string]> = [
      ['[]', 'application/json'],
      ['{"DataRepresentation":"Hash","Value":"AAAA"}', 'application/json'],
      ['[{"DataRepresentation":', 'application/json'],
      [JSON.stringify([entry(b64(KNOWN))]), 'text/plain'],
    ];
    for (const [body, contentType] of bodies) {
      const answer = await call(emu, PATHS.hash, { body, contentType });
      expect(answer.status).toBe(200);
      expect(answer.json.Status.Code).toBe(3002);
      expect(answer.json.MatchResults).toEqual([]);
    }
  });
});
