// `photodna-guard/metrics`: Prometheus metrics of a guard or a scan worker.
export {
  createGuardMetrics,
  type EventSource,
  type GuardMetrics,
  type GuardMetricsOptions,
} from './guard-metrics.js';
