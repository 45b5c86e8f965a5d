/**
 * Shared by the quarantine and report tests: a real temp directory per test, and incidents built
 * from real image bytes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Incident } from '../../src/quarantine/types.js';
import type { FileFacts, ImageMimeType } from '../../src/types.js';
import { png } from '../fixtures/images.js';

/** A fresh directory under the OS temp dir; every one is removed after each test. */
export function useTempDirs(): () => Promise<string> {
  const made: string[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pdg-quarantine-'));
    made.push(dir);
    return dir;
  };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function factsOf(
  bytes: Buffer,
  overrides: Partial<FileFacts> = {},
  mimetype: ImageMimeType = 'image/png',
): FileFacts {
  return {
    field: 'avatar',
    originalname: 'holiday.png',
    mimetype,
    size: bytes.length,
    width: 200,
    height: 200,
    sha256: sha256(bytes),
    ...overrides,
  };
}

/** A matched upload as the guard hands it to the store. */
export function makeIncident(
  overrides: Partial<Incident> = {},
  seed = 1,
): { incident: Incident; bytes: Buffer } {
  const bytes = png(200, 200, seed);
  const incident: Incident = {
    id: randomUUID(),
    receivedAt: new Date('2025-03-01T12:00:00.000Z'),
    route: '/upload',
    method: 'POST',
    ip: '203.0.113.7',
    userAgent: 'test-agent/1.0',
    file: factsOf(bytes),
    trackingId: '1_photodna_test-tracking',
    matchFlags: [{ source: 'Test', violations: ['A1'], matchDistance: 179, matchId: '104149' }],
    policy: 'quarantine',
    ...overrides,
  };
  return { incident, bytes };
}
