import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, networkPluginMetrics, TextMetricsRegistry } from "./metrics.js";

describe("prometheus text format", () => {
  it("counters and histograms with labels", async () => {
    const reg = new TextMetricsRegistry();
    const c = reg.register(new Counter("x_total", "help x", ["op"]));
    const h = reg.register(new Histogram("y_seconds", "help y", ["op"], [0.1, 1]));
    c.inc({ op: "a" });
    c.inc({ op: "a" });
    c.inc({ op: 'q"' });
    h.observe({ op: "a" }, 0.05);
    h.observe({ op: "a" }, 0.5);
    h.observe({ op: "a" }, 5);
    assert.equal(
      await reg.render(),
      [
        "# HELP x_total help x",
        "# TYPE x_total counter",
        'x_total{op="a"} 2',
        'x_total{op="q\\""} 1',
        "# HELP y_seconds help y",
        "# TYPE y_seconds histogram",
        'y_seconds_bucket{op="a",le="0.1"} 1',
        'y_seconds_bucket{op="a",le="1"} 2',
        'y_seconds_bucket{op="a",le="+Inf"} 3',
        'y_seconds_sum{op="a"} 5.55',
        'y_seconds_count{op="a"} 3',
        "",
      ].join("\n"),
    );
  });
  it("a gauge with a collect function is the current state at each scrape; series it no longer sets are gone", async () => {
    const reg = new TextMetricsRegistry();
    let pods = new Map([
      ["ready", 2],
      ["failed", 1],
    ]);
    reg.register(
      new Gauge("pods", "pods by phase", ["phase"], (g) => {
        for (const [phase, n] of pods) g.set({ phase }, n);
      }),
    );
    assert.equal(
      await reg.render(),
      '# HELP pods pods by phase\n# TYPE pods gauge\npods{phase="ready"} 2\npods{phase="failed"} 1\n',
    );
    pods = new Map([["ready", 3]]);
    assert.equal(await reg.render(), '# HELP pods pods by phase\n# TYPE pods gauge\npods{phase="ready"} 3\n');
  });
  it("a collect that fails leaves the series as they were", async () => {
    let fail = false;
    const g = new Gauge("g", "h", [], async (x) => {
      if (fail) throw new Error("disk gone");
      x.set({}, 7);
    });
    await g.collect();
    fail = true;
    await assert.rejects(g.collect(), /disk gone/);
    assert.equal(g.get(), 7);
  });
  it("sinks hear every update (a counter's earlier counts first); a histogram takes one only before its first observation", () => {
    const c = new Counter("c_total", "h", ["k"]);
    c.inc({ k: "a" }, 2);
    const heard: string[] = [];
    c.attach({ inc: (l, by) => heard.push(`${l["k"]}+${by}`) });
    c.inc({ k: "b" });
    assert.deepEqual(heard, ["a+2", "b+1"]);
    const h = new Histogram("h_seconds", "h");
    const seen: number[] = [];
    assert.equal(h.attach({ observe: (_l, v) => seen.push(v) }), true);
    h.observe({}, 0.2);
    assert.deepEqual(seen, [0.2]);
    assert.equal(h.attach({ observe: () => {} }), false, "observations cannot be replayed into a sink");
  });
  it("a name is registered once", () => {
    const reg = new TextMetricsRegistry();
    reg.register(new Counter("x_total", "h"));
    assert.throws(() => reg.register(new Gauge("x_total", "h")), /a metric named x_total is registered already/);
  });
  it("the kubelet's metric names", () => {
    const m = networkPluginMetrics(new TextMetricsRegistry());
    assert.equal(m.operations.name, "kubelet_network_plugin_operations_total");
    assert.equal(m.errors.name, "kubelet_network_plugin_operations_errors_total");
    assert.equal(m.duration.name, "kubelet_network_plugin_operations_duration_seconds");
    assert.deepEqual(m.duration.buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  });
});
