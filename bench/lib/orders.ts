/**
 * The twelve orders in which four routes are measured, one per step (or set), in turn. In every
 * four consecutive orders from the first, each route takes each position once; over all twelve,
 * each route comes right after each other route four times (counting the last request of one
 * order and the first of the next, and the twelfth order's last and the first's first) and never
 * right after itself. Found by a search; `test/unit/bench-orders.test.ts` checks both properties.
 */
const ORDERS: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 2, 0, 3],
  [2, 3, 1, 0],
  [3, 0, 2, 1],
  [0, 1, 3, 2],
  [1, 2, 3, 0],
  [3, 0, 1, 2],
  [0, 1, 2, 3],
  [2, 3, 0, 1],
  [0, 2, 1, 3],
  [1, 3, 2, 0],
  [2, 0, 3, 1],
  [3, 1, 0, 2],
];

/** Orders in a full cycle: steps per block (or sets) in multiples of it are balanced exactly. */
export const ORDERS_CYCLE = ORDERS.length;

/**
 * The order of `routes` at `step`. A measurement pays for some of what the one before it left
 * (garbage to collect, evicted caches): rotating one order keeps every route right after the same
 * one, and then two identical routes measured 4% apart at 3.5 MiB (`service-time`'s control row
 * at 0.961, its interval 0.888–0.994, in two runs, with `minimum` always after `guarded`).
 */
export function orderAt<T>(routes: readonly [T, T, T, T], step: number): T[] {
  const order = ORDERS[step % ORDERS.length] as readonly number[];
  return order.map((i) => routes[i] as T);
}
