/**
 * The JPEGs the route benchmarks upload (noise-like pattern at quality 80), with the warm-up (after
 * the JIT warm-up of `jit-warmup.ts`) and requests per round of the throughput bench; callgrind
 * scales those down.
 */
export interface UploadSize {
  label: string;
  width: number;
  height: number;
  warmup: number;
  requests: number;
}

/** About 50 KiB, 500 KiB and 3.5 MiB. */
export const UPLOAD_SIZES: readonly UploadSize[] = [
  { label: '50 KiB', width: 480, height: 320, warmup: 1_000, requests: 1_500 },
  { label: '500 KiB', width: 1420, height: 1065, warmup: 200, requests: 400 },
  { label: '3.5 MiB', width: 3800, height: 2850, warmup: 40, requests: 80 },
];

/**
 * The sizes named in `value` (`"50 KiB,500 KiB"`), or `fallback` when it is unset; an unknown
 * label is an error, not an empty run.
 */
export function selectSizes(
  value: string | undefined,
  fallback: readonly UploadSize[] = UPLOAD_SIZES,
): readonly UploadSize[] {
  if (value === undefined || value.trim() === '') return fallback;
  const labels = value.split(',').map((label) => label.trim());
  const unknown = labels.filter((label) => !UPLOAD_SIZES.some((size) => size.label === label));
  if (unknown.length > 0) {
    const known = UPLOAD_SIZES.map((size) => size.label).join(', ');
    throw new Error(`unknown size ${unknown.join(', ')}: choose from ${known}`);
  }
  return UPLOAD_SIZES.filter((size) => labels.includes(size.label));
}
