import { describe, expect, it } from 'vitest';
import { findFieldImages, valueBudget } from '../../../src/core/field-images.js';
import { png } from '../../fixtures/images.js';

describe('findFieldImages', () => {
  it('finds a data: URL image among text fields, nested as multer builds them', () => {
    const image = png(200, 200, 3);
    const url = `data:image/png;base64,${image.toString('base64')}`;
    const found = findFieldImages({ title: 'x', post: { photos: ['y', url] } });
    expect(found.map((f) => [f.path, f.bytes?.equals(image)])).toEqual([['post[photos][1]', true]]);
  });

  it("a Buffer on the body (Fastify's 'keyValues' files) is a file, not walked byte by byte: a text image after it is still found", () => {
    const image = png(200, 200, 4);
    const url = `data:image/png;base64,${image.toString('base64')}`;
    // More bytes than the walk's budget of values: walked index by index, they used it up.
    const file = Buffer.alloc(20_000, 0x41);
    const found = findFieldImages({ upload: file, later: url });
    expect(found.map((f) => f.path)).toEqual(['later']);
    expect(findFieldImages({ upload: png(200, 200, 5) })).toEqual([]);
  });

  it('a body of more than 10,000 values is LIMIT_EXCEEDED, not looked through in part', () => {
    const body = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`n${i}`, 'x']));
    expect(() => findFieldImages(body)).toThrow(
      expect.objectContaining({ code: 'LIMIT_EXCEEDED' }),
    );
    const within = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`n${i}`, 'x']));
    expect(findFieldImages(within)).toEqual([]);
  });

  it("what multer's own limits allow is never past the budget: holes of `a[100]` and numbers cost nothing", () => {
    const limits = { maxFields: 100, maxFieldDepth: 4 };
    const body: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) {
      const sparse: unknown[] = [];
      sparse[100] = 'x';
      body[`f${i}`] = sparse;
    }
    body.numbers = Array.from({ length: 20_000 }, (_, i) => i);
    expect(findFieldImages(body, valueBudget(limits))).toEqual([]);
    expect(valueBudget({ maxFields: 50_000, maxFieldDepth: 4 })).toBeGreaterThanOrEqual(50_000 * 5);
  });
});
