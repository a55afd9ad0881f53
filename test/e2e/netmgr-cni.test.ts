// `podnet node --network-plugin=cni` with Debian's Go plugins, in a sandbox node namespace: the
// lexicographically first config wins, loopback is always added, CNI_ARGS and runtimeConfig come
// from the pod, pod IPs come back, bad input leaves nothing behind.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GO_PLUGINS, haveRoot, inNs, sh, withSandbox, type Sandbox } from "./sandbox.js";
import { deleteDaemonNetns, startDaemon } from "../../src/netmgr/testing/daemon.js";
import { decodeCacheEntry } from "../../src/libcni/index.js";
import type { ApiError } from "../../src/netmgr/daemon/api-client.js";
import { serveOnce, tcpGet } from "./netmgr-tools.test.js";

const skip = haveRoot() ? false : "needs root (network namespaces)";

function confDir(sb: Sandbox): string {
  const dir = join(sb.dir, "net.d");
  mkdirSync(dir);
  const ipam = (subnet: string) => ({
    type: "host-local",
    ranges: [[{ subnet }]],
    routes: [{ dst: "0.0.0.0/0" }],
    dataDir: join(sb.dir, "ipam"),
  });
  // 10-… sorts before 20-…; the .conf would be valid too but comes later
  writeFileSync(
    join(dir, "20-second.conf"),
    JSON.stringify({
      cniVersion: "0.3.1",
      name: "second",
      type: "bridge",
      bridge: "cni-b",
      isGateway: true,
      ipam: ipam("10.200.12.0/24"),
    }),
  );
  writeFileSync(
    join(dir, "10-first.conflist"),
    JSON.stringify({
      cniVersion: "0.4.0",
      name: "k8s-pod-network",
      plugins: [
        { type: "bridge", bridge: "cni-a", isGateway: true, ipMasq: false, ipam: ipam("10.200.11.0/24") },
        { type: "portmap", capabilities: { portMappings: true } },
        { type: "bandwidth", capabilities: { bandwidth: true } },
      ],
    }),
  );
  writeFileSync(join(dir, "05-notes.txt"), "not a config");
  return dir;
}

function nodeUplink(sb: Sandbox): void {
  sh("ip", ["-n", sb.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
  for (const l of ["eth0", "eth0p"]) sh("ip", ["-n", sb.node, "link", "set", l, "up"]);
  sh("ip", ["-n", sb.node, "addr", "add", "10.200.255.1/24", "dev", "eth0"]);
}

const WEB = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "web",
    namespace: "shop",
    annotations: { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "20M" },
  },
  spec: { containers: [{ name: "nginx", ports: [{ containerPort: 80, hostPort: 18080 }] }] },
};

describe("podnet node: cni", { skip }, () => {
  it("first config wins, loopback added, CNI_ARGS + portMappings + bandwidth reach the plugins; teardown leaves nothing", () =>
    withSandbox(async (sb) => {
      nodeUplink(sb);
      const dir = confDir(sb);
      const d = await startDaemon({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: ["--network-plugin=cni", `--cni-conf-dir=${dir}`, `--cni-bin-dir=${GO_PLUGINS}`],
      });
      try {
        const info = await d.client.node();
        assert.equal(info["ready"], true, JSON.stringify(info));
        assert.deepEqual((info["network"] as { name: string; file: string }).name, "k8s-pod-network");
        assert.match((info["network"] as { file: string }).file, /10-first\.conflist$/);

        const pod = sb.netns("web");
        const v = await d.client.addPod(WEB, sb.path(pod));
        assert.match(v.ips[0] ?? "", /^10\.200\.11\.\d+$/, "an address from the first config");
        // loopback up inside the pod, eth0 carries the address
        const lo = sb.ipJson(pod, ["addr", "show", "lo"])[0] as {
          flags: string[];
          addr_info: Array<{ local: string }>;
        };
        assert.ok(lo.flags.includes("UP"));
        assert.equal(lo.addr_info[0]?.local, "127.0.0.1");
        // the first config's bridge exists, the second's does not
        const links = sb.ipJson(sb.node, ["link", "show"]).map((l) => String(l["ifname"]));
        assert.ok(links.includes("cni-a"));
        assert.ok(!links.includes("cni-b"));
        // the libcni cache: loopback and the network, with the kubelet's CNI_ARGS and capability args
        const results = join(sb.dir, "n", "cache", "results");
        const files = readdirSync(results).sort();
        assert.deepEqual(files, [`cni-loopback-${v.sandboxID}-eth0`, `k8s-pod-network-${v.sandboxID}-eth0`]);
        const e = decodeCacheEntry(readFileSync(join(results, files[1]!)))!;
        assert.deepEqual(e.cniArgs, [
          ["IgnoreUnknown", "1"],
          ["K8S_POD_NAMESPACE", "shop"],
          ["K8S_POD_NAME", "web"],
          ["K8S_POD_INFRA_CONTAINER_ID", v.sandboxID],
        ]);
        // read back from the cache as plain data (no prototypes): structuredClone gives ordinary objects to compare
        assert.deepEqual(structuredClone(e.capabilityArgs["portMappings"]), [
          { hostPort: 18080, containerPort: 80, protocol: "tcp", hostIP: "" },
        ]);
        assert.deepEqual(structuredClone(e.capabilityArgs["bandwidth"]), {
          ingressRate: 10_000_000,
          ingressBurst: 2147483647,
          egressRate: 20_000_000,
          egressBurst: 2147483647,
        });
        // portmap and bandwidth did their part
        assert.match(inNs(sb.node, ["iptables-save", "-t", "nat"]).out, /--dport 18080/);
        assert.match(inNs(sb.node, ["tc", "qdisc", "show"]).out, /qdisc tbf/);
        // node → hostPort reaches the pod
        const srv = serveOnce(pod, 80, "hello from web");
        try {
          assert.equal(await tcpGet(sb.node, "10.200.255.1", 18080), "hello from web");
        } finally {
          srv.kill();
        }
        const st = await d.client.podStatus("shop", "web");
        assert.deepEqual(st.status, { ip: v.ips[0], ips: v.ips });

        // a second pod, in a netns the daemon makes itself
        const v2 = await d.client.addPod({ metadata: { name: "api" }, spec: { containers: [{ name: "c" }] } });
        assert.match(v2.netns, /^\/run\/netns\/podnet-[0-9a-f]{12}$/);
        assert.equal(inNs(pod, ["ping", "-c1", "-W2", v2.ips[0]!]).status, 0, "pod → pod");

        await d.client.deletePod("shop", "web");
        await d.client.deletePod("default", "api");
        assert.equal(existsSync(v2.netns), false, "the daemon's netns is gone");
        assert.deepEqual(readdirSync(results), []);
        assert.deepEqual(
          readdirSync(join(sb.dir, "ipam", "k8s-pod-network")).filter((f) => /^\d/.test(f)),
          [],
          "leases released",
        );
        assert.doesNotMatch(inNs(sb.node, ["iptables-save", "-t", "nat"]).out, /--dport 18080/);
        const m = await d.client.metrics();
        assert.match(m, /kubelet_network_plugin_operations_total\{operation_type="set_up_pod",plugin_name="cni"\} 2/);
        assert.match(
          m,
          /kubelet_network_plugin_operations_duration_seconds_count\{operation_type="tear_down_pod",plugin_name="cni"\} 2/,
        );
      } finally {
        await d.stop();
        deleteDaemonNetns(d.stateDir);
      }
    }));

  it("bad input: a quantity the kubelet rejects, a hostPort conflict — clear errors, nothing half set up, other pods keep working", () =>
    withSandbox(async (sb) => {
      const dir = confDir(sb);
      const d = await startDaemon({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: ["--network-plugin=cni", `--cni-conf-dir=${dir}`, `--cni-bin-dir=${GO_PLUGINS}`],
      });
      try {
        const ok = await d.client.addPod(WEB, sb.path(sb.netns("web")));
        for (const [value, why] of [
          ["10Q", /quantities must match the regular expression/],
          ["-1M", /resource is unreasonably small \(< 1kbit\)/],
        ] as const) {
          const pod = {
            metadata: { name: "bad", annotations: { "kubernetes.io/egress-bandwidth": value } },
            spec: { containers: [{ name: "c" }] },
          };
          await assert.rejects(
            d.client.addPod(pod),
            (e: ApiError) =>
              e.status === 400 &&
              e.message.includes(`metadata.annotations["kubernetes.io/egress-bandwidth"]: "${value}"`) &&
              why.test(e.message),
          );
        }
        await assert.rejects(
          d.client.addPod({ ...WEB, metadata: { name: "web2" } }),
          (e: ApiError) => e.status === 409 && /hostPort 18080\/TCP is already used by pod "shop\/web"/.test(e.message),
        );
        assert.deepEqual(
          (await d.client.listPods()).map((p) => p.name),
          ["web"],
        );
        assert.deepEqual(
          readdirSync(join(sb.dir, "ipam", "k8s-pod-network")).filter((f) => /^\d/.test(f)),
          [ok.ips[0]],
          "only the good pod holds a lease",
        );
        assert.equal(readdirSync(join(d.stateDir, "sandboxes")).length, 1, "no checkpoint of a failed pod");
        assert.deepEqual((await d.client.podStatus("shop", "web")).ips, ok.ips);
        await d.client.deletePod("shop", "web");
      } finally {
        await d.stop();
        deleteDaemonNetns(d.stateDir);
      }
    }));

  it("a conf dir with no valid file: not ready, and pods are refused with the reason", () =>
    withSandbox(async (sb) => {
      const dir = join(sb.dir, "net.d");
      mkdirSync(dir);
      writeFileSync(join(dir, "10-bad.conflist"), "{ not json");
      writeFileSync(
        join(dir, "20-missing.conflist"),
        JSON.stringify({ cniVersion: "0.4.0", name: "x", plugins: [{ type: "calico" }] }),
      );
      const d = await startDaemon({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: ["--network-plugin=cni", `--cni-conf-dir=${dir}`, `--cni-bin-dir=${GO_PLUGINS}`],
      });
      try {
        const info = await d.client.node();
        assert.equal(info["ready"], false);
        assert.match(
          String(info["message"]),
          /cni config uninitialized: no valid networks found in .*10-bad.conflist: .*20-missing.conflist: .*failed to find plugin "calico"/,
        );
        await assert.rejects(
          d.client.addPod({ metadata: { name: "p" }, spec: { containers: [{ name: "c" }] } }),
          (e: ApiError) => e.status === 503 && /cni config uninitialized/.test(e.message),
        );
        // a valid file appears: the watcher picks it up
        writeFileSync(
          join(dir, "30-ok.conflist"),
          JSON.stringify({
            cniVersion: "0.4.0",
            name: "ok",
            plugins: [
              {
                type: "bridge",
                bridge: "cni-c",
                ipam: { type: "host-local", subnet: "10.200.13.0/24", dataDir: join(sb.dir, "ipam") },
              },
            ],
          }),
        );
        const t0 = Date.now();
        while (!(await d.client.node())["ready"] && Date.now() - t0 < 6000) await new Promise((r) => setTimeout(r, 50));
        assert.equal((await d.client.node())["ready"], true);
      } finally {
        await d.stop();
      }
    }));
});
