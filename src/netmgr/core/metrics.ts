// The node manager's metrics: counters, gauges and histograms with labels, and the registry they
// are registered with. No dependency and no I/O: the daemon's registry (src/netmgr/daemon/
// prom-registry.ts) serves them through prom-client; TextMetricsRegistry here renders the text
// exposition format itself (tests, and any embedder without prom-client).
//
// A metric keeps its own series (so tests read them synchronously: get(), count()); a registry
// that keeps series of its own attaches a sink to each metric it is given and hears of every
// update from then on.

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type Labels = Readonly<Record<string, string>>;

function labelKey(names: readonly string[], labels: Labels): string {
  return names.map((n) => labels[n] ?? "").join("\u0000");
}

const labelsOf = (names: readonly string[], values: readonly string[]): Labels =>
  Object.fromEntries(names.map((n, i) => [n, values[i] ?? ""]));

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
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

const header = (m: { name: string; help: string }, type: string) => [
  `# HELP ${m.name} ${escapeHelp(m.help)}`,
  `# TYPE ${m.name} ${type}`,
];

export type MetricType = "counter" | "gauge" | "histogram";

/** What a registry accepts: a metric with a name and help, and its series in the text format. */
export interface Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
  /** Absent for a metric only TextMetricsRegistry renders (a registry over prom-client renders it as text too). */
  readonly type?: MetricType;
  /** Brings the series up to date before a scrape reads them (a registry awaits it before render()). */
  collect?(): void | Promise<void>;
  /** The series as they are, in the text format. */
  render(): string;
}

/** Where a counter's increments go besides its own series (a registry's counter of the same name). */
export interface CounterSink {
  inc(labels: Labels, by: number): void;
}

/** Where a gauge's values go besides its own series. */
export interface GaugeSink {
  set(labels: Labels, value: number): void;
  /** The gauge dropped every series (before a collect sets the current ones). */
  reset(): void;
}

/** Where a histogram's observations go besides its own series. */
export interface HistogramSink {
  observe(labels: Labels, value: number): void;
}

export class Counter implements Metric {
  readonly type = "counter";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly values = new Map<string, { labels: string[]; value: number }>();
  private readonly sinks: CounterSink[] = [];
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
    for (const s of this.sinks) s.inc(labelsOf(this.labelNames, e.labels), by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels))?.value ?? 0;
  }
  /** Sends every later increment to `sink` too (the counts so far first). */
  attach(sink: CounterSink): void {
    for (const e of this.values.values()) sink.inc(labelsOf(this.labelNames, e.labels), e.value);
    this.sinks.push(sink);
  }
  render(): string {
    const lines = header(this, "counter");
    for (const e of this.values.values())
      lines.push(`${this.name}${renderLabels(this.labelNames, e.labels)} ${formatNumber(e.value)}`);
    return lines.join("\n");
  }
}

/**
 * A value that goes up and down. With a collect function, it is set from the current state each
 * time it is scraped: the function calls set() for every series that exists now; series it does
 * not set are gone.
 */
export class Gauge implements Metric {
  readonly type = "gauge";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly values = new Map<string, { labels: string[]; value: number }>();
  private readonly sinks: GaugeSink[] = [];
  private readonly collector: ((g: Gauge) => void | Promise<void>) | undefined;
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    collect?: (g: Gauge) => void | Promise<void>,
  ) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.collector = collect;
  }
  set(labels: Labels, value: number): void {
    const k = labelKey(this.labelNames, labels);
    const e = this.values.get(k) ?? { labels: this.labelNames.map((n) => labels[n] ?? ""), value: 0 };
    e.value = value;
    this.values.set(k, e);
    for (const s of this.sinks) s.set(labelsOf(this.labelNames, e.labels), value);
  }
  inc(labels: Labels = {}, by = 1): void {
    this.set(labels, this.get(labels) + by);
  }
  dec(labels: Labels = {}, by = 1): void {
    this.set(labels, this.get(labels) - by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels))?.value ?? 0;
  }
  /** Runs the collect function (if any): the series become the current state. */
  async collect(): Promise<void> {
    if (!this.collector) return;
    const fresh = new Gauge(this.name, this.help, this.labelNames);
    await this.collector(fresh); // into a fresh gauge: a scrape that fails leaves the old series
    this.values.clear();
    for (const s of this.sinks) s.reset();
    for (const e of fresh.values.values()) this.set(labelsOf(this.labelNames, e.labels), e.value);
  }
  attach(sink: GaugeSink): void {
    for (const e of this.values.values()) sink.set(labelsOf(this.labelNames, e.labels), e.value);
    this.sinks.push(sink);
  }
  render(): string {
    const lines = header(this, "gauge");
    for (const e of this.values.values())
      lines.push(`${this.name}${renderLabels(this.labelNames, e.labels)} ${formatNumber(e.value)}`);
    return lines.join("\n");
  }
}

export class Histogram implements Metric {
  readonly type = "histogram";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  private readonly values = new Map<string, { labels: string[]; counts: number[]; sum: number; count: number }>();
  private readonly sinks: HistogramSink[] = [];
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
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
    for (const s of this.sinks) s.observe(labelsOf(this.labelNames, e.labels), value);
  }
  count(labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels))?.count ?? 0;
  }
  /**
   * Sends every later observation to `sink` too — only before the first one (observations cannot
   * be replayed): false, and nothing attached, once there are any.
   */
  attach(sink: HistogramSink): boolean {
    if (this.values.size > 0) return false;
    this.sinks.push(sink);
    return true;
  }
  render(): string {
    const lines = header(this, "histogram");
    for (const e of this.values.values()) {
      for (const [i, b] of this.buckets.entries())
        lines.push(
          `${this.name}_bucket${renderLabels(this.labelNames, e.labels, ["le", formatNumber(b)])} ${e.counts[i]}`,
        );
      lines.push(`${this.name}_bucket${renderLabels(this.labelNames, e.labels, ["le", "+Inf"])} ${e.count}`);
      lines.push(`${this.name}_sum${renderLabels(this.labelNames, e.labels)} ${formatNumber(e.sum)}`);
      lines.push(`${this.name}_count${renderLabels(this.labelNames, e.labels)} ${e.count}`);
    }
    return lines.join("\n");
  }
}

/**
 * A counter or gauge without labels whose value is read from a component's own counters when
 * /metrics is rendered (cluster networking's agent keeps plain numbers). Rendered as text by
 * either registry.
 */
export class SampledMetric implements Metric {
  readonly name: string;
  readonly help: string;
  readonly kind: "counter" | "gauge";
  private readonly read: () => number;
  constructor(name: string, help: string, kind: "counter" | "gauge", read: () => number) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.read = read;
  }
  render(): string {
    return [...header(this, this.kind), `${this.name} ${formatNumber(this.read())}`].join("\n");
  }
}

/**
 * What the node manager registers its metrics with. register() returns the metric (so a
 * definition reads `const c = reg.register(new Counter(…))`); a second metric of the same name is
 * an error. render() is the text exposition format (version 0.0.4) of everything registered.
 */
export interface MetricsRegistry {
  register<M extends Metric>(m: M): M;
  render(): string | Promise<string>;
}

/** A registry that renders the text format itself. */
export class TextMetricsRegistry implements MetricsRegistry {
  private readonly metrics: Metric[] = [];
  register<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`a metric named ${m.name} is registered already`);
    this.metrics.push(m);
    return m;
  }
  /** text/plain; version=0.0.4 */
  async render(): Promise<string> {
    await Promise.all(this.metrics.map((m) => m.collect?.()));
    return `${this.metrics.map((m) => m.render()).join("\n")}\n`;
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
    operations: reg.register(
      new Counter(
        "kubelet_network_plugin_operations_total",
        "Cumulative number of network plugin operations by operation type.",
        labels,
      ),
    ),
    errors: reg.register(
      new Counter(
        "kubelet_network_plugin_operations_errors_total",
        "Cumulative number of network plugin operation errors by operation type.",
        labels,
      ),
    ),
    duration: reg.register(
      new Histogram(
        "kubelet_network_plugin_operations_duration_seconds",
        "Latency in seconds of network plugin operations. Broken down by operation type.",
        labels,
      ),
    ),
  };
}
