/** The few metric kinds the guard's metrics need, over prom-client or the built-in exposition. */
export type Labels = Record<string, string>;

export interface CounterLike {
  inc(labels: Labels, value?: number): void;
}
export interface HistogramLike {
  observe(labels: Labels, value: number): void;
}

export interface Sink {
  counter(name: string, help: string, labelNames: string[]): CounterLike;
  histogram(name: string, help: string, labelNames: string[], buckets: number[]): HistogramLike;
  /** A gauge read at scrape time; `collect` may be async (queue depth in Redis). */
  gauge(
    name: string,
    help: string,
    collect: () => Promise<Array<[Labels, number]>> | Array<[Labels, number]>,
  ): void;
  /** The Prometheus text exposition. */
  text(): Promise<string>;
  readonly contentType: string;
}
