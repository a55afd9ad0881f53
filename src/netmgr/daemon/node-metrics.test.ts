import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, type Metric, networkPluginMetrics } from "../core/metrics.js";
import { parsePromText, sampleValue } from "../testing/prom-text.js";
import { PromMetricsRegistry } from "./prom-registry.js";
import {
  registerBuildInfo,
  registerIpamMetrics,
  registerNetworkReady,
  registerPodMetrics,
  registerResidentMetrics,
} from "./node-metrics.js";
import type { PodView } from "../sandbox/runtime.js";

const pod = (
  name: string,
  phase: PodView["phase"],
  hostPorts: Array<{ hostPort: number; protocol: "TCP" | "UDP" }> = [],
): PodView => ({
  namespace: "default",
  name,
  uid: name,
  sandboxID: name,
  netns: "",
  hostNetwork: false,
  phase,
  ips: [],
  bandwidth: {},
  createdAt: "",
  plugin: "kubenet",
  hostPorts: hostPorts.map((h) => ({ ...h, containerPort: 80, hostIP: "" })),
});

describe("the daemons' registry over prom-client", () => {
  it("mirrors the node manager's counters, histograms and gauges; prom-client adds the process metrics", async () => {
    const reg = new PromMetricsRegistry();
    const m = networkPluginMetrics(reg);
    const labels = { operation_type: "set_up_pod", plugin_name: "kubenet" };
    m.operations.inc(labels);
    m.operations.inc(labels);
    m.errors.inc(labels);
    m.duration.observe(labels, 0.02);
    m.duration.observe(labels, 3);
    let n = 1;
    reg.register(new Gauge("podnet_test_things", "things", ["kind"], (g) => g.set({ kind: "a" }, n)));
    const fams = parsePromText(await reg.render());
    assert.equal(sampleValue(fams, "kubelet_network_plugin_operations_total", labels), 2);
    assert.equal(sampleValue(fams, "kubelet_network_plugin_operations_errors_total", labels), 1);
    assert.equal(fams.get("kubelet_network_plugin_operations_duration_seconds")?.type, "histogram");
    assert.equal(
      sampleValue(fams, "kubelet_network_plugin_operations_duration_seconds_bucket", { ...labels, le: "0.025" }),
      1,
    );
    assert.equal(
      sampleValue(fams, "kubelet_network_plugin_operations_duration_seconds_bucket", { ...labels, le: "5" }),
      2,
    );
    assert.equal(sampleValue(fams, "kubelet_network_plugin_operations_duration_seconds_count", labels), 2);
    assert.equal(sampleValue(fams, "podnet_test_things", { kind: "a" }), 1);
    n = 5;
    assert.equal(
      sampleValue(parsePromText(await reg.render()), "podnet_test_things", { kind: "a" }),
      5,
      "collected again at the next scrape",
    );
    for (const f of [
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "process_start_time_seconds",
      "process_open_fds",
      "nodejs_eventloop_lag_seconds",
    ]) {
      assert.ok(fams.has(f), `${f} is served`);
    }
    assert.equal(reg.contentType, "text/plain; version=0.0.4; charset=utf-8");
  });
  it("a metric of a kind it does not know, or a histogram observed before it was registered, is rendered as text after prom-client's; a name is registered once", async () => {
    const reg = new PromMetricsRegistry({ processMetrics: false });
    const custom: Metric = {
      name: "podnet_custom",
      help: "c",
      render: () => "# HELP podnet_custom c\n# TYPE podnet_custom gauge\npodnet_custom 4",
    };
    reg.register(custom);
    reg.register(new Counter("podnet_c_total", "c"));
    const early = new Histogram("podnet_early_seconds", "h", [], [1]);
    early.observe({}, 0.5);
    reg.register(early);
    early.observe({}, 2);
    const fams = parsePromText(await reg.render());
    assert.equal(sampleValue(fams, "podnet_custom"), 4);
    assert.deepEqual(
      fams.get("podnet_early_seconds")!.samples.map((x) => [x.name, x.labels["le"], x.value]),
      [
        ["podnet_early_seconds_bucket", "1", 1],
        ["podnet_early_seconds_bucket", "+Inf", 2],
        ["podnet_early_seconds_sum", undefined, 2.5],
        ["podnet_early_seconds_count", undefined, 2],
      ],
    );
    assert.throws(() => reg.register(new Counter("podnet_early_seconds", "again")), /registered already/);
    assert.equal(fams.get("podnet_c_total")?.type, "counter");
    assert.throws(
      () => reg.register(new Counter("podnet_custom", "again")),
      /a metric named podnet_custom is registered already/,
    );
    assert.throws(
      () => reg.register(new Gauge("podnet_c_total", "again")),
      /a metric named podnet_c_total is registered already/,
    );
  });
});

describe("podnet's metrics", () => {
  it("build info, readiness, pods by phase (every phase), host ports by protocol", async () => {
    const reg = new PromMetricsRegistry({ processMetrics: false });
    registerBuildInfo(reg, { version: "0.1.0", commit: "abc123", node: "v20.1.0" });
    let ready: string | null = "network plugin is not ready: no pod CIDR";
    registerNetworkReady(reg, "kubenet", () => ready);
    let pods = [
      pod("a", "ready", [
        { hostPort: 8080, protocol: "TCP" },
        { hostPort: 53, protocol: "UDP" },
      ]),
      pod("b", "ready"),
      pod("c", "failed", [{ hostPort: 8081, protocol: "TCP" }]),
    ];
    registerPodMetrics(reg, () => pods);
    let fams = parsePromText(await reg.render());
    assert.equal(
      sampleValue(fams, "podnet_build_info", { version: "0.1.0", commit: "abc123", node_version: "v20.1.0" }),
      1,
    );
    assert.equal(sampleValue(fams, "podnet_network_ready", { plugin_name: "kubenet" }), 0);
    assert.deepEqual(
      fams.get("podnet_pods")!.samples.map((s) => [s.labels["phase"], s.value]),
      [
        ["setting-up", 0],
        ["ready", 2],
        ["repairing", 0],
        ["failed", 1],
        ["tearing-down", 0],
      ],
    );
    assert.deepEqual(
      fams.get("podnet_hostports")!.samples.map((s) => [s.labels["protocol"], s.value]),
      [
        ["tcp", 2],
        ["udp", 1],
        ["sctp", 0],
      ],
    );
    ready = null;
    pods = [];
    fams = parsePromText(await reg.render());
    assert.equal(sampleValue(fams, "podnet_network_ready", { plugin_name: "kubenet" }), 1);
    assert.equal(sampleValue(fams, "podnet_pods", { phase: "ready" }), 0);
  });
  it("IPAM usage per range: read at most once per cache period unless the state changed, however often scraped; a failed read is reported and yields no series", async () => {
    const reg = new PromMetricsRegistry({ processMetrics: false });
    let clock = 0;
    let reads = 0;
    let fail = false;
    let key = "no pods";
    const errors: string[] = [];
    registerIpamMetrics(
      reg,
      async () => {
        reads++;
        if (fail) throw new Error("EACCES");
        return [
          {
            network: "kubenet",
            rangeSet: "10.200.3.1-10.200.3.254",
            subnets: ["10.200.3.0/24"],
            used: reads,
            capacity: 253,
          },
        ];
      },
      { now: () => clock, cacheMs: 5000, stateKey: () => key, onError: (e) => errors.push(String(e)) },
    );
    const labels = { network: "kubenet", range: "10.200.3.1-10.200.3.254", subnet: "10.200.3.0/24" };
    let fams = parsePromText(await reg.render());
    assert.equal(sampleValue(fams, "podnet_ipam_addresses_used", labels), 1);
    assert.equal(sampleValue(fams, "podnet_ipam_addresses_capacity", labels), 253);
    clock = 4999;
    await reg.render();
    assert.equal(reads, 1, "one read for both gauges and every scrape within the period");
    clock = 5000;
    fams = parsePromText(await reg.render());
    assert.equal(sampleValue(fams, "podnet_ipam_addresses_used", labels), 2);
    key = "a pod set up";
    fams = parsePromText(await reg.render());
    assert.equal(sampleValue(fams, "podnet_ipam_addresses_used", labels), 3, "what the daemon changed is read at once");
    fail = true;
    clock = 10_000;
    fams = parsePromText(await reg.render());
    assert.deepEqual([fams.get("podnet_ipam_addresses_used")!.samples, errors], [[], ["Error: EACCES"]]);
  });
  it("resident calls by plugin, command and result; labels only from fixed sets", async () => {
    const reg = new PromMetricsRegistry({ processMetrics: false });
    const obs = registerResidentMetrics(reg, ["bridge", "host-local"]);
    obs.onCall({ plugin: "bridge", command: "ADD", ok: true, seconds: 0.004 });
    obs.onCall({ plugin: "bridge", command: "ADD", ok: false, seconds: 0.002 });
    obs.onCall({ plugin: "host-local", command: "DEL", ok: true, seconds: 0.001 });
    obs.onCall({ plugin: "evil\n{x}", command: "DROP TABLE", ok: false, seconds: 0.001 });
    obs.onRefused("malformed");
    obs.onRefused("rejected");
    obs.onRefused("rejected");
    const fams = parsePromText(await reg.render());
    const calls = (plugin: string, command: string, result: string) =>
      sampleValue(fams, "podnet_resident_calls_total", { plugin, command, result });
    assert.deepEqual(
      [
        calls("bridge", "ADD", "ok"),
        calls("bridge", "ADD", "error"),
        calls("host-local", "DEL", "ok"),
        calls("unknown", "other", "error"),
      ],
      [1, 1, 1, 1],
    );
    assert.equal(
      sampleValue(fams, "podnet_resident_call_duration_seconds_count", { plugin: "bridge", command: "ADD" }),
      2,
    );
    assert.equal(sampleValue(fams, "podnet_resident_requests_refused_total", { reason: "rejected" }), 2);
    assert.equal(sampleValue(fams, "podnet_resident_requests_refused_total", { reason: "malformed" }), 1);
  });
});
