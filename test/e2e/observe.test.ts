// Observing the daemons as an operator does: `podnet node --config FILE --metrics-bind-address`
// and `podnet resident --metrics-bind-address` in a sandbox node namespace, scraped over TCP from
// inside it (127.0.0.1 there is the sandbox's own): /readyz 503 until the network is ready, then
// 200; /metrics in the text format with the series operators rely on; the log as JSON lines, one
// per pod set-up and teardown, and no warning over a shaped pod's whole life.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { haveRoot, PODNET_PLUGINS, REPO, sh, withSandbox, type Sandbox } from "./sandbox.js";
import { deleteDaemonNetns, startDaemon } from "../../src/netmgr/testing/daemon.js";
import { parsePromText, sampleValue } from "../../src/netmgr/testing/prom-text.js";
import { startPodnet } from "./users.js";
import { nodeRawExec } from "../../src/kernel/exec.js";

const skip = !haveRoot()
  ? "needs root (network namespaces)"
  : !existsSync(join(PODNET_PLUGINS, "bridge"))
    ? "build/cni not built"
    : false;

interface HttpAnswer {
  status: number;
  type: string;
  body: string;
}

/** GET http://HOST:PORT/PATH from inside the netns `ns` (a Node child in it), retrying while the server starts. */
function httpIn(ns: string, url: string): HttpAnswer {
  const code = `const http=require("http");const end=Date.now()+10000;(function go(){http.get(${JSON.stringify(url)},r=>{let b="";r.on("data",d=>b+=d);r.on("end",()=>process.stdout.write(JSON.stringify({status:r.statusCode,type:r.headers["content-type"]||"",body:b})))}).on("error",e=>{if(Date.now()<end)setTimeout(go,50);else{process.stderr.write(e.message);process.exit(1)}})})()`;
  const env = { ...process.env };
  delete env["NODE_EXTRA_CA_CERTS"];
  delete env["NODE_OPTIONS"];
  const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, "-e", code], {
    encoding: "utf8",
    env,
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`GET ${url} in ${ns}: ${r.stderr}`);
  return JSON.parse(r.stdout) as HttpAnswer;
}

interface LogLine {
  time: string;
  level: string;
  msg: string;
  [k: string]: unknown;
}

/** Every line of a daemon's stderr as a log record: each must be a JSON object with ISO time, level and msg. */
function logLines(text: string): LogLine[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const o = JSON.parse(l) as LogLine;
      assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, l);
      assert.ok(["debug", "info", "warn", "error"].includes(o.level), l);
      assert.equal(typeof o.msg, "string", l);
      assert.deepEqual(Object.keys(o).slice(0, 3), ["time", "level", "msg"], l);
      return o;
    });
}

function nodeUplink(sb: Sandbox): void {
  sh("ip", ["-n", sb.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
  sh("ip", ["-n", sb.node, "link", "set", "eth0p", "up"]);
  sh("ip", ["-n", sb.node, "link", "set", "eth0", "up"]);
  sh("ip", ["-n", sb.node, "addr", "add", "10.200.255.1/24", "dev", "eth0"]);
}

const WEB = {
  metadata: {
    name: "web",
    annotations: { "kubernetes.io/ingress-bandwidth": "5M", "kubernetes.io/egress-bandwidth": "3M" },
  },
  spec: { containers: [{ name: "nginx", ports: [{ containerPort: 80, hostPort: 8080 }] }] },
};

describe("podnet node: --config, /metrics, /healthz, /readyz over TCP, JSON logs", { skip }, () => {
  it("not ready (503) until the pod CIDR, then ready; the series for pods, host ports, IPAM, operations, build and process; one log line per set-up and teardown, no warning", () =>
    withSandbox(async (sb) => {
      nodeUplink(sb);
      const dir = join(sb.dir, "n");
      mkdirSync(dir, { recursive: true });
      const config = join(dir, "node.yaml");
      // the file says noop and a port; the command line overrides the plugin (flags win)
      writeFileSync(
        config,
        [
          "network-plugin: noop",
          `kubenet-bin-dir: ${PODNET_PLUGINS}`,
          "cni-bin-dir: [/usr/lib/cni]",
          "metrics-bind-address: 127.0.0.1:9966",
          "log-level: info",
          "",
        ].join("\n"),
      );
      const d = await startDaemon({ netns: sb.node, dir, args: [`--config=${config}`, "--network-plugin=kubenet"] });
      try {
        assert.equal((await d.client.node())["plugin"], "kubenet", "the flag overrides the file");
        const base = "http://127.0.0.1:9966";
        assert.deepEqual(
          httpIn(sb.node, `${base}/healthz`),
          { status: 200, type: "text/plain; charset=utf-8", body: "ok\n" },
          "alive while not ready",
        );
        const notReady = httpIn(sb.node, `${base}/readyz`);
        assert.equal(notReady.status, 503);
        assert.match(
          notReady.body,
          /^not ready: network plugin is not ready: kubenet does not have netConfig\. This is most likely due to lack of PodCIDR\n$/,
        );
        assert.equal((await d.client.readyz()).status, 503, "the unix API says the same");
        assert.equal(await d.client.healthy(), true);
        let fams = parsePromText(httpIn(sb.node, `${base}/metrics`).body);
        assert.equal(sampleValue(fams, "podnet_network_ready", { plugin_name: "kubenet" }), 0);

        await d.client.setPodCIDR("10.200.7.0/24");
        assert.deepEqual(httpIn(sb.node, `${base}/readyz`), {
          status: 200,
          type: "text/plain; charset=utf-8",
          body: "ok\n",
        });
        assert.deepEqual(await d.client.readyz(), { status: 200, text: "ok\n" });

        const web = await d.client.addPod(WEB);
        assert.deepEqual(web.ips, ["10.200.7.2"]);
        await d.client.podStatus("default", "web");
        const scraped = httpIn(sb.node, `${base}/metrics`);
        assert.equal(scraped.type, "text/plain; version=0.0.4; charset=utf-8");
        fams = parsePromText(scraped.body);
        const op = (t: string) => ({ operation_type: t, plugin_name: "kubenet" });
        assert.equal(sampleValue(fams, "kubelet_network_plugin_operations_total", op("set_up_pod")), 1);
        assert.equal(
          sampleValue(fams, "kubelet_network_plugin_operations_duration_seconds_count", op("set_up_pod")),
          1,
        );
        assert.equal(fams.get("kubelet_network_plugin_operations_errors_total")?.type, "counter");
        assert.equal(sampleValue(fams, "podnet_network_ready", { plugin_name: "kubenet" }), 1);
        assert.equal(sampleValue(fams, "podnet_pods", { phase: "ready" }), 1);
        assert.equal(sampleValue(fams, "podnet_pods", { phase: "failed" }), 0);
        assert.equal(sampleValue(fams, "podnet_hostports", { protocol: "tcp" }), 1);
        const range = { network: "kubenet", range: "10.200.7.1-10.200.7.254", subnet: "10.200.7.0/24" };
        assert.equal(sampleValue(fams, "podnet_ipam_addresses_used", range), 1);
        assert.equal(sampleValue(fams, "podnet_ipam_addresses_capacity", range), 253);
        const build = fams.get("podnet_build_info")!.samples[0]!;
        assert.deepEqual(
          [build.labels["version"], build.labels["node_version"], build.value],
          ["0.1.0", process.version, 1],
        );
        assert.match(build.labels["commit"]!, /^([0-9a-f]{40}(-dirty)?|unknown)$/);
        for (const f of [
          "process_cpu_seconds_total",
          "process_resident_memory_bytes",
          "process_open_fds",
          "nodejs_heap_size_used_bytes",
        ])
          assert.ok(fams.has(f), `${f} is served`);
        assert.deepEqual(
          scraped.body.split("\n").filter((l) => /10\.200\.7\.2\b/.test(l) || l.includes(web.sandboxID)),
          [],
          "no pod address or sandbox ID in the metrics",
        );
        assert.equal(httpIn(sb.node, `${base}/v1/pods`).status, 404, "the TCP address serves no pod API");

        await d.client.deletePod("default", "web");
        fams = parsePromText(httpIn(sb.node, `${base}/metrics`).body);
        assert.equal(sampleValue(fams, "kubelet_network_plugin_operations_total", op("tear_down_pod")), 1);
        assert.equal(sampleValue(fams, "podnet_pods", { phase: "ready" }), 0);
        assert.equal(sampleValue(fams, "podnet_hostports", { protocol: "tcp" }), 0);
      } finally {
        assert.equal(await d.stop(), 0);
        deleteDaemonNetns(d.stateDir);
      }
      const lines = logLines(d.log());
      const setUp = lines.filter((l) => l.msg === "pod network set-up");
      const tornDown = lines.filter((l) => l.msg === "pod network teardown");
      assert.equal(setUp.length, 1, d.log());
      assert.equal(tornDown.length, 1, d.log());
      for (const l of [...setUp, ...tornDown]) {
        assert.deepEqual([l.level, l["pod"], l["plugin"], l["result"]], ["info", "default/web", "kubenet", "ok"]);
        assert.ok(typeof l["durationMs"] === "number" && l["durationMs"] > 0, JSON.stringify(l));
      }
      assert.deepEqual(setUp[0]!["ips"], ["10.200.7.2"]);
      assert.ok(
        lines.some((l) => l.msg === "serving /metrics, /healthz and /readyz" && l["address"] === "127.0.0.1:9966"),
      );
      assert.deepEqual(
        lines.filter((l) => l.level === "warn" || l.level === "error"),
        [],
        "a shaped pod's life logs no warning",
      );
    }));

  it("a failed set-up is one error line with the reason and how long it took", () =>
    withSandbox(async (sb) => {
      nodeUplink(sb);
      const dir = join(sb.dir, "n");
      const d = await startDaemon({
        netns: sb.node,
        dir,
        args: [
          "--network-plugin=kubenet",
          `--kubenet-bin-dir=${PODNET_PLUGINS}`,
          "--cni-bin-dir=/usr/lib/cni",
          "--pod-cidr=10.200.8.0/30",
        ],
      });
      try {
        await d.client.addPod({ metadata: { name: "a" }, spec: { containers: [{ name: "c" }] } });
        await assert.rejects(
          d.client.addPod({ metadata: { name: "b" }, spec: { containers: [{ name: "c" }] } }),
          /no IP addresses available/,
        );
      } finally {
        await d.stop();
        deleteDaemonNetns(d.stateDir);
      }
      const failed = logLines(d.log()).filter((l) => l.msg === "pod network set-up" && l["pod"] === "default/b");
      assert.equal(failed.length, 1, d.log());
      assert.equal(failed[0]!.level, "error");
      assert.equal(failed[0]!["result"], "error");
      assert.match(String(failed[0]!["error"]), /no IP addresses available in range set/);
      assert.equal(typeof failed[0]!["durationMs"], "number");
    }));

  it("a metrics address that cannot be bound stops the start with the reason", () =>
    withSandbox(async (sb) => {
      const dir = join(sb.dir, "n");
      const d = await startDaemon({ netns: sb.node, dir, args: ["--metrics-bind-address=127.0.0.1:9966"] });
      try {
        const again = await startPodnet(
          [
            "node",
            `--socket=${join(dir, "b.sock")}`,
            `--state-dir=${join(dir, "state-b")}`,
            "--modprobe=false",
            "--metrics-bind-address=127.0.0.1:9966",
          ],
          { netns: sb.node },
        );
        const r = await again.exited();
        assert.equal(r.code, 1);
        assert.match(r.log, /podnet node: --metrics-bind-address 127\.0\.0\.1:9966: listen EADDRINUSE/);
      } finally {
        await d.stop();
      }
    }));
});

describe("podnet resident: --metrics-bind-address", {
  skip: skip || (!existsSync(join(REPO, "build", "resident", "loopback")) ? "build/resident not built" : false),
}, () => {
  it("serves /readyz while serving the launchers, calls by plugin, command and result, and logs JSON", () =>
    withSandbox(async (sb) => {
      const sock = join(sb.dir, "r", "cni.sock");
      const d = await startPodnet(
        ["resident", "--socket", sock, "--metrics-bind-address", "[::1]:9967", "--log-level", "debug"],
        { netns: sb.node, readyPath: sock },
      );
      try {
        const base = "http://[::1]:9967";
        assert.deepEqual(httpIn(sb.node, `${base}/readyz`), {
          status: 200,
          type: "text/plain; charset=utf-8",
          body: "ok\n",
        });
        const pod = sb.netns("pod");
        const env = {
          PATH: process.env["PATH"],
          CNI_CONTAINERID: "c1",
          CNI_NETNS: sb.path(pod),
          CNI_IFNAME: "lo",
          CNI_PATH: "/opt/cni/bin",
          PODNET_CNI_SOCKET: sock,
        };
        const conf = JSON.stringify({ cniVersion: "1.0.0", name: "lo", type: "loopback" });
        const launcher = join(REPO, "build", "resident", "loopback");
        for (const cmd of ["ADD", "DEL"]) {
          const r = await nodeRawExec.run(launcher, [], {
            env: { ...env, CNI_COMMAND: cmd },
            stdin: conf,
            timeoutMs: 20_000,
          });
          assert.equal(r.code, 0, r.stdout.toString() + r.stderr.toString());
        }
        const bad = await nodeRawExec.run(launcher, [], {
          env: { ...env, CNI_COMMAND: "ADD" },
          stdin: "{not json",
          timeoutMs: 20_000,
        });
        assert.notEqual(bad.code, 0);
        const fams = parsePromText(httpIn(sb.node, `${base}/metrics`).body);
        const calls = (command: string, result: string) =>
          sampleValue(fams, "podnet_resident_calls_total", { plugin: "loopback", command, result });
        assert.deepEqual([calls("ADD", "ok"), calls("DEL", "ok"), calls("ADD", "error")], [1, 1, 1]);
        assert.equal(
          sampleValue(fams, "podnet_resident_call_duration_seconds_count", { plugin: "loopback", command: "ADD" }),
          2,
        );
        assert.equal(sampleValue(fams, "podnet_build_info", { version: "0.1.0" }), 1);
        assert.ok(fams.has("process_resident_memory_bytes"));
      } finally {
        await d.stop();
      }
      const lines = logLines(d.log());
      assert.ok(
        lines.some((l) => l.level === "info" && l["socket"] === sock && Array.isArray(l["plugins"])),
        d.log(),
      );
      assert.ok(
        lines.some(
          (l) => l.msg.startsWith("stopped after 3 calls (1 errors;") && l["calls"] === 3 && l["errors"] === 1,
        ),
        d.log(),
      );
    }));
});
