/**
 * A whole-number setting of a bench from the environment (`BENCH_*`): `fallback` when unset or
 * empty; anything but decimal digits worth at least `min` is an error that names the variable.
 */
export function intFromEnv(name: string, fallback: number, min: number): number {
  const value = process.env[name]?.trim();
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) {
    throw new Error(`${name} must be a whole number of at least ${min}, got '${value}'`);
  }
  return n;
}
