import type { Row } from './table.js';

/** Settings from the command line, shared by every benchmark. */
export interface BenchSettings {
  /** Uploads fired at once by the rate benchmark. Defaults to 100 (`--burst N`). */
  burst: number;
}

export interface Benchmark {
  /** The name used on the command line: `npm run bench -- <name>`. */
  name: string;
  /** One line on what it measures, printed before it runs. */
  about: string;
  run(settings: BenchSettings): Promise<Row[]>;
}
