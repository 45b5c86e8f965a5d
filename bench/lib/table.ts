/** One line of the final table: a measurement, the baseline it is compared with, and the goal. */
export interface Row {
  benchmark: string;
  measured: string;
  baseline: string;
  /** measured / baseline; `undefined` when there is no ratio (a count, or not run). */
  ratio: number | undefined;
  /** A 95% confidence interval of the ratio, when it is a median of repeated measurements. */
  interval?: readonly [number, number] | undefined;
  goal: string;
  /**
   * Whether the goal was met; `undefined` for rows without a goal. `'undecided'`: the goal lies
   * inside the row's confidence interval, so this run cannot tell (printed as `noise`).
   */
  met?: boolean | 'undecided' | undefined;
}

/**
 * The verdict on a goal for a median with a confidence interval: met when the whole interval
 * is on the goal's side, not met when the whole interval is on the other, else undecided.
 */
export function verdict(
  interval: readonly [number, number],
  goal: number,
  direction: 'at least' | 'at most',
): boolean | 'undecided' {
  const [low, high] = interval;
  if (direction === 'at least') return low >= goal ? true : high < goal ? false : 'undecided';
  return high <= goal ? true : low > goal ? false : 'undecided';
}

const COLUMNS = ['benchmark', 'measured', 'baseline', 'ratio', 'goal', 'met'] as const;

/** Prints the rows as one aligned, pipe-separated table. */
export function printTable(rows: readonly Row[]): void {
  const cells = rows.map((row) => [
    row.benchmark,
    row.measured,
    row.baseline,
    row.ratio === undefined ? '—' : withInterval(row.ratio, row.interval),
    row.goal,
    row.met === undefined ? '' : row.met === 'undecided' ? 'noise' : row.met ? 'yes' : 'NO',
  ]);
  const widths = COLUMNS.map((name, i) =>
    Math.max(name.length, ...cells.map((line) => (line[i] ?? '').length)),
  );
  const line = (values: readonly string[]) =>
    values.map((value, i) => value.padEnd(widths[i] ?? 0)).join(' | ');
  console.log(line(COLUMNS));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const values of cells) console.log(line(values));
}

function withInterval(ratio: number, interval: Row['interval']): string {
  if (!interval) return formatRatio(ratio);
  return `${formatRatio(ratio)} (${formatRatio(interval[0])}–${formatRatio(interval[1])})`;
}

export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  return ratio >= 100 ? ratio.toFixed(0) : ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(3);
}

/** A number with a unit, at a sensible precision. */
export function fmt(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

/** Progress and detail lines printed while a benchmark runs (the table comes at the end). */
export function note(message: string): void {
  console.log(`  ${message}`);
}
