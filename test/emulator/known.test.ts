import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readDimensions } from '../../src/core/dimensions.js';
import { startEmulator, testImages } from '../../src/emulator/index.js';
import { InvalidOptionsError } from '../../src/errors.js';
import { jpg, png } from '../fixtures/images.js';
import { emulator, matchImage } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'pdg-emulator-'));
  dirs.push(dir);
  return dir;
};
const isMatch = async (
  emu: Awaited<ReturnType<typeof emulator>>,
  bytes: Buffer,
  type = 'image/png',
) => (await matchImage(emu, bytes, type)).json.IsMatch as boolean;

describe('known list', () => {
  it('matches images given as bytes, by SHA-256, and as file and directory paths', async () => {
    const dir = tempDir();
    const fromFile = png(200, 200, 11);
    const inDir = [png(220, 220, 12), jpg(200, 200, 13)];
    writeFileSync(join(dir, 'single.png'), fromFile);
    const sub = join(dir, 'many');
    mkdirSync(sub);
    for (const [i, bytes] of inDir.entries()) writeFileSync(join(sub, `img-${i}`), bytes);
    const bySha = png(200, 200, 14);
    const emu = await emulator({
      rateLimit: false,
      known: {
        images: [png(200, 200, 10), join(dir, 'single.png'), sub],
        sha256: [createHash('sha256').update(bySha).digest('hex').toUpperCase()],
      },
    });
    expect(await isMatch(emu, png(200, 200, 10))).toBe(true);
    expect(await isMatch(emu, fromFile)).toBe(true);
    expect(await isMatch(emu, inDir[0] as Buffer)).toBe(true);
    expect(await isMatch(emu, inDir[1] as Buffer, 'image/jpeg')).toBe(true);
    expect(await isMatch(emu, bySha)).toBe(true);
    expect(await isMatch(emu, png(200, 200, 15))).toBe(false);
  });

  it('addKnown adds at runtime', async () => {
    const emu = await emulator();
    const bytes = png(200, 200, 21);
    expect(await isMatch(emu, bytes)).toBe(false);
    await emu.addKnown({ images: [bytes] });
    expect(await isMatch(emu, bytes)).toBe(true);
  });

  it('puts the test images on the list by default, and not with includeTestImages: false', async () => {
    const image = testImages()[1];
    if (!image) throw new Error('no test image');
    expect(await isMatch(await emulator(), image.bytes)).toBe(true);
    expect(await isMatch(await emulator({ includeTestImages: false }), image.bytes)).toBe(false);
  });
});

describe('test images', () => {
  it('are three deterministic PNGs of at least 256x256, with their SHA-256', () => {
    const images = testImages();
    expect(images).toHaveLength(3);
    expect(new Set(images.map((i) => i.sha256)).size).toBe(3);
    for (const image of images) {
      expect(image.name).toMatch(/^[a-z0-9-]+\.png$/);
      expect(image.sha256).toBe(createHash('sha256').update(image.bytes).digest('hex'));
      const { width, height } = readDimensions(image.bytes, 'image/png');
      expect(width).toBeGreaterThanOrEqual(256);
      expect(height).toBeGreaterThanOrEqual(256);
    }
    expect(testImages().map((i) => i.sha256)).toEqual(images.map((i) => i.sha256));
  });

  it('hands out copies, so a caller cannot change the known bytes', async () => {
    const first = testImages()[0];
    if (!first) throw new Error('no test image');
    first.bytes.fill(0);
    const again = testImages()[0];
    expect(again?.bytes.equals(first.bytes)).toBe(false);
    expect(await isMatch(await emulator(), again?.bytes as Buffer)).toBe(true);
  });
});

describe('options validation', () => {
  const invalid: Array<[string, unknown]> = [
    ['port', { port: 70_000 }],
    ['apiKey', { apiKey: '' }],
    ['known.sha256.0', { known: { sha256: ['abc'] } }],
    ['known.hashes.0', { known: { hashes: [Buffer.alloc(10).toString('base64')] } }],
    ['rateLimit.perSecond', { rateLimit: { perSecond: 0 } }],
    ['faults.0.type', { faults: [{ type: 'explode' }] }],
    ['errorRate.rate', { errorRate: { rate: 1.5, fault: { type: 'reset' } } }],
    ['latencyMs', { latencyMs: -5 }],
    ['hashThreshold', { hashThreshold: -1 }],
    ['prot', { prot: 1 }],
    ['known.image', { known: { image: [] } }],
  ];
  for (const [path, options] of invalid) {
    it(`throws InvalidOptionsError naming ${path}`, async () => {
      const error = await startEmulator(options as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).paths).toContain(path);
    });
  }

  it('rejects with the listen error when the port is taken', async () => {
    const first = await emulator();
    await expect(startEmulator({ port: first.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
