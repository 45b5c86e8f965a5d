/**
 * Backfill progress on stderr: a bar redrawn in place on a TTY (counts, calls/s, ETA), plain
 * lines every few seconds otherwise (logs, CI).
 */
import type { NotRegular } from './sources.js';

/** Why an entry was not scanned by this run: finished by an earlier one, or not a regular file. */
export type SkipReason = 'finished' | NotRegular;

export interface Counts {
  total: number | undefined;
  done: number;
  skipped: number;
  /**
   * `skipped` by reason: `finished` (by an earlier run: `--resume`), or what the walk met in a
   * file's place that is no regular file, never read (a symlink, a FIFO, a socket, a device):
   * counted so that the summary shows what the backfill did not cover.
   */
  skippedBy: Record<SkipReason, number>;
  clean: number;
  match: number;
  invalid: number;
  error: number;
  duplicate: number;
  calls: number;
}

export function newCounts(): Counts {
  return {
    total: undefined,
    done: 0,
    skipped: 0,
    skippedBy: { finished: 0, symlink: 0, fifo: 0, socket: 0, device: 0, other: 0 },
    clean: 0,
    match: 0,
    invalid: 0,
    error: 0,
    duplicate: 0,
    calls: 0,
  };
}

/** Counts an entry this run did not scan. */
export function countSkipped(counts: Counts, reason: SkipReason): void {
  counts.skipped++;
  counts.skippedBy[reason]++;
}

export interface Progress {
  stop(): void;
}

export function startProgress(
  counts: Counts,
  stream: NodeJS.WriteStream = process.stderr,
  intervalMs = stream.isTTY ? 250 : 5_000,
): Progress {
  const started = performance.now();
  const draw = (final: boolean) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? counts.calls / seconds : 0;
    const filesPerSecond = seconds > 0 ? counts.done / seconds : 0;
    const left =
      counts.total === undefined ? undefined : counts.total - counts.done - counts.skipped;
    const eta =
      left !== undefined && filesPerSecond > 0 ? formatDuration(left / filesPerSecond) : '?';
    const of = counts.total === undefined ? '' : `/${counts.total}`;
    const stats = `${rate.toFixed(2)} calls/s | ETA ${eta} | clean ${counts.clean} match ${counts.match} invalid ${counts.invalid} error ${counts.error} dup ${counts.duplicate} skipped ${counts.skipped}${reasonsOf(counts.skippedBy)}`;
    if (stream.isTTY) {
      const fraction = counts.total ? (counts.done + counts.skipped) / counts.total : 0;
      const width = 24;
      const filled = Math.round(fraction * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      stream.write(
        `\r\x1b[K${bar} ${counts.done + counts.skipped}${of} ${stats}${final ? '\n' : ''}`,
      );
    } else {
      stream.write(`progress: ${counts.done + counts.skipped}${of} files | ${stats}\n`);
    }
  };
  const timer = setInterval(() => draw(false), intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      draw(true);
    },
  };
}

/** The reasons of `skipped`, the ones that occurred: ` (finished 3, symlink 2)`, or nothing. */
function reasonsOf(skippedBy: Counts['skippedBy']): string {
  const reasons = Object.entries(skippedBy).filter(([, count]) => count > 0);
  return reasons.length
    ? ` (${reasons.map(([reason, count]) => `${reason} ${count}`).join(', ')})`
    : '';
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}
