import { describe, expect, it } from 'vitest';
import { ORDERS_CYCLE, orderAt } from '../../bench/lib/orders.js';

const ROUTES = ['a', 'b', 'c', 'd'] as const;
const orders = (count: number) => Array.from({ length: count }, (_, step) => orderAt(ROUTES, step));

describe('orderAt (the order the route benchmarks measure four routes in)', () => {
  it('gives every route once per order', () => {
    for (const order of orders(ORDERS_CYCLE)) expect([...order].sort()).toEqual([...ROUTES]);
  });

  it('puts each route in each position once in every four consecutive orders from the first', () => {
    for (let start = 0; start < ORDERS_CYCLE; start += 4) {
      const block = orders(start + 4).slice(start);
      for (let position = 0; position < 4; position++) {
        expect(block.map((order) => order[position]).sort()).toEqual([...ROUTES]);
      }
    }
  });

  it('puts each route right after each other route equally often over a cycle, never after itself', () => {
    const sequence = orders(ORDERS_CYCLE).flat();
    const follows = new Map<string, number>();
    for (let i = 0; i < sequence.length; i++) {
      const pair = `${sequence[i]}>${sequence[(i + 1) % sequence.length]}`;
      follows.set(pair, (follows.get(pair) ?? 0) + 1);
    }
    const expected = new Map<string, number>();
    for (const before of ROUTES) {
      for (const after of ROUTES) if (before !== after) expected.set(`${before}>${after}`, 4);
    }
    expect(follows).toEqual(expected);
  });

  it('cycles: step n and step n + 12 give the same order', () => {
    expect(orderAt(ROUTES, 5 + ORDERS_CYCLE)).toEqual(orderAt(ROUTES, 5));
    expect(ORDERS_CYCLE).toBe(12);
  });
});
