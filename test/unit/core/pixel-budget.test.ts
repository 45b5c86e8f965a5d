import { describe, expect, it } from 'vitest';
import { PixelBudget } from '../../../src/core/pixel-budget.js';

/** Work that runs until the test lets it finish, recording when it started. */
function gate(log: string[], name: string) {
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    work: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
    },
    finish: () => finish(),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('PixelBudget', () => {
  it('runs work whose pixels fit beside those in flight, the rest in order as pixels come back', async () => {
    const budget = new PixelBudget(100);
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const c = gate(log, 'c');
    const d = gate(log, 'd');
    const runs = [
      budget.run(60, a.work),
      budget.run(40, b.work),
      budget.run(50, c.work), // does not fit beside a and b
      budget.run(10, d.work), // would fit, but waits its turn behind c
    ];
    await turn();
    expect(log).toEqual(['start a', 'start b']);
    a.finish();
    await turn();
    await turn();
    expect(log).toEqual(['start a', 'start b', 'end a', 'start c', 'start d']);
    b.finish();
    c.finish();
    d.finish();
    await Promise.all(runs);
  });

  it('an image larger than the whole budget runs alone; work that fails gives its pixels back', async () => {
    const budget = new PixelBudget(100);
    const log: string[] = [];
    const huge = gate(log, 'huge');
    const small = gate(log, 'small');
    const failing = budget.run(30, async () => {
      throw new Error('not an image');
    });
    await expect(failing).rejects.toThrow('not an image');
    const runs = [budget.run(1_000, huge.work), budget.run(1, small.work)];
    await turn();
    expect(log).toEqual(['start huge']);
    huge.finish();
    await turn();
    await turn();
    expect(log).toEqual(['start huge', 'end huge', 'start small']);
    small.finish();
    await Promise.all(runs);
  });

  it('a wait ends when its signal aborts or it waits too long: nothing runs, and the queue goes on', async () => {
    const budget = new PixelBudget(100);
    const log: string[] = [];
    const big = gate(log, 'big');
    const holding = budget.run(100, big.work);
    const leaving = new AbortController();
    const left = budget.run(50, gate(log, 'left').work, {
      signal: leaving.signal,
      maxWaitMs: 60_000,
      tooLong: () => new Error('too long'),
    });
    const slow = budget.run(50, gate(log, 'slow').work, {
      maxWaitMs: 50,
      tooLong: () => new Error('waited too long'),
    });
    const next = gate(log, 'next');
    const after = budget.run(10, next.work);
    expect(budget.waiting).toBe(3);
    leaving.abort(new Error('the uploader left'));
    await expect(left).rejects.toThrow('the uploader left');
    await expect(slow).rejects.toThrow('waited too long');
    expect(budget.waiting).toBe(1);
    big.finish();
    await holding;
    await turn();
    expect(log).toEqual(['start big', 'end big', 'start next']);
    next.finish();
    await after;
    expect(budget.waiting).toBe(0);
  });
});
