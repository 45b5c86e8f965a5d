/**
 * A small Prometheus text-format exposition (version 0.0.4) with no dependency: counters,
 * histograms and scrape-time gauges, which is all the guard's metrics use.
 */
import type { CounterLike, HistogramLike, Labels, Sink } from './sink.js';

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'histogram' | 'gauge';
  render(): Promise<string[]>;
}

export function createTextSink(): Sink {
  const families: Family[] = [];
  return {
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    counter(name, help) {
      const values = new Map<string, number>();
      families.push({
        name,
        help,
        type: 'counter',
        render: async () => [...values].map(([labels, value]) => `${name}${labels} ${value}`),
      });
      const counter: CounterLike = {
        inc(labels, value = 1) {
          const key = formatLabels(labels);
          values.set(key, (values.get(key) ?? 0) + value);
        },
      };
      return counter;
    },
    histogram(name, help, _labelNames, buckets) {
      const series = new Map<
        string,
        { labels: Labels; counts: number[]; sum: number; count: number }
      >();
      families.push({
        name,
        help,
        type: 'histogram',
        render: async () =>
          [...series.values()].flatMap(({ labels, counts, sum, count }) => [
            ...buckets.map(
              (le, i) =>
                `${name}_bucket${formatLabels({ ...labels, le: String(le) })} ${counts[i]}`,
            ),
            `${name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${count}`,
            `${name}_sum${formatLabels(labels)} ${sum}`,
            `${name}_count${formatLabels(labels)} ${count}`,
          ]),
      });
      const histogram: HistogramLike = {
        observe(labels, value) {
          const key = formatLabels(labels);
          let entry = series.get(key);
          if (!entry) {
            entry = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 };
            series.set(key, entry);
          }
          for (const [i, le] of buckets.entries())
            if (value <= le) entry.counts[i] = (entry.counts[i] ?? 0) + 1;
          entry.sum += value;
          entry.count++;
        },
      };
      return histogram;
    },
    gauge(name, help, collect) {
      families.push({
        name,
        help,
        type: 'gauge',
        render: async () =>
          (await collect()).map(([labels, value]) => `${name}${formatLabels(labels)} ${value}`),
      });
    },
    async text() {
      const parts: string[] = [];
      for (const family of families) {
        parts.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
        parts.push(...(await family.render()));
      }
      return `${parts.join('\n')}\n`;
    },
  };
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
