/** The guard's metrics registered in a prom-client (15.x) registry the host already exposes. */
import type { CounterLike, HistogramLike, Sink } from './sink.js';

/** The parts of prom-client used here. */
export interface PromClientLike {
  Counter: new (config: Record<string, unknown>) => { inc(labels: object, value?: number): void };
  Histogram: new (
    config: Record<string, unknown>,
  ) => { observe(labels: object, value: number): void };
  Gauge: new (
    config: Record<string, unknown>,
  ) => { set(labels: object, value: number): void; reset(): void };
}
export interface RegistryLike {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export function createPromSink(prom: PromClientLike, registry: RegistryLike): Sink {
  const registers = [registry];
  return {
    get contentType() {
      return registry.contentType;
    },
    counter(name, help, labelNames) {
      const counter = new prom.Counter({ name, help, labelNames, registers });
      return { inc: (labels, value = 1) => counter.inc(labels, value) } satisfies CounterLike;
    },
    histogram(name, help, labelNames, buckets) {
      const histogram = new prom.Histogram({ name, help, labelNames, buckets, registers });
      return {
        observe: (labels, value) => histogram.observe(labels, value),
      } satisfies HistogramLike;
    },
    gauge(name, help, collect) {
      const gauge: InstanceType<PromClientLike['Gauge']> = new prom.Gauge({
        name,
        help,
        labelNames: [],
        registers,
        async collect() {
          gauge.reset();
          for (const [labels, value] of await collect()) gauge.set(labels, value);
        },
      });
    },
    text: () => registry.metrics(),
  };
}
