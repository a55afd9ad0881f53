// A small Prometheus registry (counters and histograms with labels) and the text exposition
// format, enough for the plugin manager's metrics. No dependency.

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels = Readonly<Record<string, string>>;

function labelKey(names: readonly string[], labels: Labels): string {
  return names.map((n) => labels[n] ?? "").join("\u0000");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function renderLabels(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const pairs = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? "")}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

function formatNumber(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly values = new Map<string, { labels: string[]; value: number }>();
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(this.labelNames, labels);
    const e = this.values.get(k) ?? { labels: this.labelNames.map((n) => labels[n] ?? ""), value: 0 };
    e.value += by;
    this.values.set(k, e);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const e of this.values.values()) lines.push(`${this.name}${renderLabels(this.labelNames, e.labels)} ${formatNumber(e.value)}`);
    return lines.join("\n");
  }
}

export class Histogram implements Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  private readonly values = new Map<string, { labels: string[]; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = DEFAULT_BUCKETS) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(labels: Labels, value: number): void {
    const k = labelKey(this.labelNames, labels);
    let e = this.values.get(k);
    if (!e) {
      e = { labels: this.labelNames.map((n) => labels[n] ?? ""), counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(k, e);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) e.counts[i]!++;
    e.sum += value;
    e.count++;
  }
  count(labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels))?.count ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const e of this.values.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${renderLabels(this.labelNames, e.labels, ["le", formatNumber(b)])} ${e.counts[i]}`));
      lines.push(`${this.name}_bucket${renderLabels(this.labelNames, e.labels, ["le", "+Inf"])} ${e.count}`);
      lines.push(`${this.name}_sum${renderLabels(this.labelNames, e.labels)} ${formatNumber(e.sum)}`);
      lines.push(`${this.name}_count${renderLabels(this.labelNames, e.labels)} ${e.count}`);
    }
    return lines.join("\n");
  }
}

/** A counter or gauge without labels whose value is read when /metrics is rendered (a component's own counters). */
export class SampledMetric implements Metric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  private readonly read: () => number;
  constructor(name: string, help: string, type: "counter" | "gauge", read: () => number) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.read = read;
  }
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, `${this.name} ${formatNumber(this.read())}`].join("\n");
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  register<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  /** text/plain; version=0.0.4 */
  render(): string {
    return this.metrics.map((m) => m.render()).join("\n") + "\n";
  }
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The kubelet's network plugin metrics (subsystem "kubelet"), with the plugin's name as a label. */
export interface NetworkPluginMetrics {
  readonly operations: Counter;
  readonly errors: Counter;
  readonly duration: Histogram;
}

export function networkPluginMetrics(reg: MetricsRegistry): NetworkPluginMetrics {
  const labels = ["operation_type", "plugin_name"];
  return {
    operations: reg.register(new Counter("kubelet_network_plugin_operations_total", "Cumulative number of network plugin operations by operation type.", labels)),
    errors: reg.register(new Counter("kubelet_network_plugin_operations_errors_total", "Cumulative number of network plugin operation errors by operation type.", labels)),
    duration: reg.register(new Histogram("kubelet_network_plugin_operations_duration_seconds", "Latency in seconds of network plugin operations. Broken down by operation type.", labels)),
  };
}
