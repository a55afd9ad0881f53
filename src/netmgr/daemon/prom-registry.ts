// The daemons' metrics registry over prom-client: the node manager's metrics (src/netmgr/core/
// metrics.ts) are mirrored into prom-client's of the same name, type, labels and buckets, and
// prom-client renders them with the process metrics (process_*, nodejs_*) it collects itself.
// Only the daemons load it (never a plugin executable, never src/netmgr/core).
import {
  collectDefaultMetrics,
  Counter as PromCounter,
  Gauge as PromGauge,
  Histogram as PromHistogram,
  Registry,
} from "prom-client";
import { Counter, Gauge, Histogram, type Metric, type MetricsRegistry } from "../core/metrics.js";

export class PromMetricsRegistry implements MetricsRegistry {
  /** prom-client's registry (what /metrics renders). */
  readonly prom = new Registry();
  /** Metrics of kinds prom-client does not know: rendered as text after prom-client's. */
  private readonly textOnly: Metric[] = [];
  readonly contentType: string = this.prom.contentType;

  /** `processMetrics`: prom-client's default metrics of this process (CPU, memory, fds, event loop, GC). */
  constructor(o: { processMetrics?: boolean } = {}) {
    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.prom });
  }

  register<M extends Metric>(m: M): M {
    if (this.prom.getSingleMetric(m.name) || this.textOnly.some((x) => x.name === m.name))
      throw new Error(`a metric named ${m.name} is registered already`);
    const base = { name: m.name, help: m.help, labelNames: [...(m.labelNames ?? [])], registers: [this.prom] };
    if (m instanceof Counter) {
      const c = new PromCounter(base);
      m.attach({ inc: (labels, by) => c.inc(labels, by) });
    } else if (m instanceof Histogram) {
      const h = new PromHistogram({ ...base, registers: [], buckets: [...m.buckets] });
      // observed already (registered late): rendered from its own series instead
      if (m.attach({ observe: (labels, v) => h.observe(labels, v) })) this.prom.registerMetric(h);
      else this.textOnly.push(m);
    } else if (m instanceof Gauge) {
      const g = new PromGauge({ ...base, collect: () => m.collect() });
      m.attach({ set: (labels, v) => g.set(labels, v), reset: () => g.reset() });
    } else {
      this.textOnly.push(m);
    }
    return m;
  }

  /** The text exposition format (version 0.0.4) of everything registered. */
  async render(): Promise<string> {
    await Promise.all(this.textOnly.map((m) => m.collect?.()));
    const text = await this.prom.metrics();
    return this.textOnly.length ? `${text}${this.textOnly.map((m) => m.render()).join("\n")}\n` : text;
  }
}
