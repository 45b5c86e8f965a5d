import { totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  bytesToReserve,
  defaultMaxBufferedBytes,
  mostBufferedBy,
  UploadBudget,
} from '../../../src/core/upload-budget.js';
import { limitsSchema } from '../../../src/options.js';

const MIB = 1024 * 1024;

describe('UploadBudget', () => {
  it('reserves while the total stays within the limit, and refuses past it', () => {
    const budget = new UploadBudget();
    expect(budget.tryReserve(60, 100)).toBe(true);
    expect(budget.tryReserve(40, 100)).toBe(true);
    expect(budget.tryReserve(1, 100)).toBe(false);
    expect(budget.held).toBe(100);
    budget.release(40);
    expect(budget.tryReserve(30, 100)).toBe(true);
    expect(budget.held).toBe(90);
  });

  it('admits a request alone whatever its size, and nothing beside it', () => {
    const budget = new UploadBudget();
    expect(budget.tryReserve(500, 100)).toBe(true);
    expect(budget.tryReserve(1, 100)).toBe(false);
    budget.release(500);
    expect(budget.held).toBe(0);
  });

  it('compares the shared total with each caller’s own limit', () => {
    const budget = new UploadBudget();
    expect(budget.tryReserve(50, 100)).toBe(true);
    expect(budget.tryReserve(20, 60)).toBe(false); // a stricter route sheds first
    expect(budget.tryReserve(20, 100)).toBe(true);
  });
});

describe('bytesToReserve', () => {
  it.each([
    [{ 'content-length': '734' }, 734],
    [{ 'content-length': '0' }, 0],
    [{ 'content-length': '5000' }, 1000], // bounded by what the limits let it buffer
    [{}, 1000], // HTTP/2 without a length
    [{ 'content-length': '10', 'transfer-encoding': 'chunked' }, 1000], // framed by chunks
    [{ 'content-length': 'abc' }, 1000],
    [{ 'content-length': '-5' }, 1000],
  ])('%j → %i', (headers, expected) => {
    expect(bytesToReserve(headers, 1000)).toBe(expected);
  });
});

describe('mostBufferedBy', () => {
  it('counts every file and every field at its largest', () => {
    const limits = limitsSchema.parse({});
    expect(mostBufferedBy(limits)).toBe(10 * 4 * MIB + 100 * (64 * 1024 + 200));
  });
});

describe('defaultMaxBufferedBytes', () => {
  it('is a quarter of the memory the process may use, at most 512 MiB', () => {
    const constrained = process.constrainedMemory?.() ?? 0;
    const usable = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
    expect(defaultMaxBufferedBytes()).toBe(Math.min(512 * MIB, Math.floor(usable / 4)));
  });
});
