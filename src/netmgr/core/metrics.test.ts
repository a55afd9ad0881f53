import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Counter, Histogram, networkPluginMetrics, MetricsRegistry } from "./metrics.js";

describe("prometheus text format", () => {
  it("counters and histograms with labels", () => {
    const reg = new MetricsRegistry();
    const c = reg.register(new Counter("x_total", "help x", ["op"]));
    const h = reg.register(new Histogram("y_seconds", "help y", ["op"], [0.1, 1]));
    c.inc({ op: "a" });
    c.inc({ op: "a" });
    c.inc({ op: 'q"' });
    h.observe({ op: "a" }, 0.05);
    h.observe({ op: "a" }, 0.5);
    h.observe({ op: "a" }, 5);
    assert.equal(reg.render(), [
      "# HELP x_total help x", "# TYPE x_total counter", 'x_total{op="a"} 2', 'x_total{op="q\\""} 1',
      "# HELP y_seconds help y", "# TYPE y_seconds histogram",
      'y_seconds_bucket{op="a",le="0.1"} 1', 'y_seconds_bucket{op="a",le="1"} 2', 'y_seconds_bucket{op="a",le="+Inf"} 3',
      'y_seconds_sum{op="a"} 5.55', 'y_seconds_count{op="a"} 3', "",
    ].join("\n"));
  });
  it("the kubelet's metric names", () => {
    const m = networkPluginMetrics(new MetricsRegistry());
    assert.equal(m.operations.name, "kubelet_network_plugin_operations_total");
    assert.equal(m.errors.name, "kubelet_network_plugin_operations_errors_total");
    assert.equal(m.duration.name, "kubelet_network_plugin_operations_duration_seconds");
    assert.deepEqual(m.duration.buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  });
});
