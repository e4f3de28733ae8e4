import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The product's own metrics, rendered at /metrics in Prometheus text format. Components add
 * counters here, or register a snapshot function whose values are read at scrape time.
 */
export class ProductMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'route' | 'method'>;
  readonly authFailures: Counter<'status'>;
  readonly auditFailures: Counter;

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'metering_process_' });
    this.httpRequests = new Counter({
      name: 'metering_http_requests_total',
      help: 'HTTP requests answered by the controller',
      labelNames: ['route', 'method', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'metering_http_request_duration_seconds',
      help: 'Time to answer HTTP requests',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [this.registry],
    });
    this.authFailures = new Counter({
      name: 'metering_http_auth_failures_total',
      help: 'Requests refused for a missing, unknown or insufficient token',
      labelNames: ['status'],
      registers: [this.registry],
    });
    this.auditFailures = new Counter({
      name: 'metering_audit_write_failures_total',
      help: 'Audit log records that could not be written (admin actions are refused while the audit log is unavailable)',
      registers: [this.registry],
    });
  }

  /**
   * Expose a component's counters: `snapshot()` returns metric name → value and is called at each
   * scrape. Names ending in `_total` are counters, the rest gauges. `help` is one text for all, or
   * a text per metric name.
   */
  registerSnapshot(helpText: string | ((name: string) => string), snapshot: () => Record<string, number>): void {
    const names = Object.keys(snapshot());
    for (const name of names) {
      const help = typeof helpText === 'string' ? helpText : helpText(name);
      const read = () => snapshot()[name] ?? 0;
      if (name.endsWith('_total')) {
        new Counter({
          name,
          help,
          registers: [this.registry],
          collect() {
            this.reset();
            this.inc(read());
          },
        });
      } else {
        new Gauge({
          name,
          help,
          registers: [this.registry],
          collect() {
            this.set(read());
          },
        });
      }
    }
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
