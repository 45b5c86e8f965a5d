import { describe, expect, it } from 'vitest';
import { MAX_WITHDRAWN_HOLDS, WithdrawnHolds } from '../../../src/queue/withdrawn-holds.js';

describe('WithdrawnHolds', () => {
  it('remembers a withdrawn hold', () => {
    const holds = new WithdrawnHolds();
    holds.add('a');
    expect(holds.has('a')).toBe(true);
    expect(holds.has('b')).toBe(false);
  });

  it('remembers at most its bound, forgetting the oldest first', () => {
    const holds = new WithdrawnHolds(3);
    for (const id of ['a', 'b', 'c', 'd']) holds.add(id);
    expect(holds.size).toBe(3);
    expect(holds.has('a')).toBe(false);
    expect(['b', 'c', 'd'].every((id) => holds.has(id))).toBe(true);
  });

  it('stays within the default bound under a flood of withdrawals', () => {
    const holds = new WithdrawnHolds();
    for (let i = 0; i < MAX_WITHDRAWN_HOLDS + 1000; i++) holds.add(`hold-${i}`);
    expect(holds.size).toBe(MAX_WITHDRAWN_HOLDS);
    expect(holds.has('hold-0')).toBe(false);
    expect(holds.has(`hold-${MAX_WITHDRAWN_HOLDS + 999}`)).toBe(true);
  });
});
