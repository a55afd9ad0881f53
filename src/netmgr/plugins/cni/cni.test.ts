import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFakeKernel } from "../../../kernel/fake.js";
import { buildRuntimeConf, cniArgs, createCniPlugin, ipRangesCapability } from "./cni.js";
import { createFakeInvoker } from "../../testing/fakes.js";
import type { Host, PortMapping } from "../../core/plugin.js";
import { CniCode, CniError, formatCniArgs } from "../../../cni/index.js";

const list = (name: string, plugins: unknown[], v = "0.4.0") => JSON.stringify({ cniVersion: v, name, plugins });

function withDir(files: Record<string, string>, fn: (dir: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-cni-"));
  for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const NS = "/run/netns/p";
const pms: PortMapping[] = [
  { hostPort: 8080, containerPort: 80, protocol: "TCP", hostIP: "" },
  { hostPort: 0, containerPort: 9000, protocol: "UDP", hostIP: "" },
];
const host = (netns: string | null = NS): Host => ({
  getNetNS: async (id) => {
    if (!netns) throw new Error(`cannot find network namespace for the terminated container "${id}"`);
    return netns;
  },
  getPodPortMappings: async () => pms,
});

describe("cni runtime config", () => {
  it("CNI_ARGS as the kubelet sends them", () =>
    assert.equal(
      formatCniArgs(cniArgs("default", "nginx", "abc")),
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx;K8S_POD_INFRA_CONTAINER_ID=abc",
    ));
  it("portMappings (hostPort > 0, lower-case protocol), bandwidth, one ipRanges set per family, dns", () => {
    const rt = buildRuntimeConf({
      namespace: "default",
      name: "web",
      sandboxID: "abc",
      netns: NS,
      portMappings: pms,
      podCidr: "10.200.0.0/24,fd00:200::/64",
      annotations: { "kubernetes.io/ingress-bandwidth": "1M" },
      options: { dns: JSON.stringify({ servers: ["10.96.0.10"], searches: ["svc"], options: ["ndots:5"] }) },
    });
    assert.deepEqual(rt.capabilityArgs, {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "" }],
      bandwidth: { ingressRate: 1_000_000, ingressBurst: 2147483647 },
      ipRanges: [[{ subnet: "10.200.0.0/24" }], [{ subnet: "fd00:200::/64" }]],
      dns: { servers: ["10.96.0.10"], searches: ["svc"], options: ["ndots:5"] },
    });
    assert.equal(rt.ifName, "eth0");
    assert.deepEqual(ipRangesCapability("10.0.0.0/24"), [[{ subnet: "10.0.0.0/24" }]]);
  });
  it("portMappings is always there; no pod CIDR, no ipRanges; bad input names the annotation", () => {
    const rt = buildRuntimeConf({
      namespace: "n",
      name: "p",
      sandboxID: "i",
      netns: "",
      portMappings: [],
      podCidr: "",
      annotations: {},
      options: {},
    });
    assert.deepEqual(rt.capabilityArgs, { portMappings: [] });
    assert.throws(
      () =>
        buildRuntimeConf({
          namespace: "n",
          name: "p",
          sandboxID: "i",
          netns: "",
          portMappings: [],
          podCidr: "",
          annotations: { "kubernetes.io/ingress-bandwidth": "-1M" },
          options: {},
        }),
      /^Error: failed to get pod bandwidth from annotations: metadata.annotations\["kubernetes.io\/ingress-bandwidth"\]: "-1M": resource is unreasonably small \(< 1kbit\)$/,
    );
    assert.throws(
      () =>
        buildRuntimeConf({
          namespace: "n",
          name: "p",
          sandboxID: "i",
          netns: "",
          portMappings: [],
          podCidr: "",
          annotations: {},
          options: { dns: "{" },
        }),
      /failed to unmarshal dns config "\{"/,
    );
  });
});

describe("cni plugin over a fake invoker", () => {
  it("the first valid file in lexicographic order wins; invalid ones are skipped", () =>
    withDir(
      {
        "05-broken.conflist": "{not json",
        "10-missing.conflist": list("missing", [{ type: "calico" }]),
        "20-b.conflist": list("second", [{ type: "bridge" }]),
        "30-a.conf": JSON.stringify({ cniVersion: "0.3.1", name: "third", type: "bridge" }),
        "README.md": "x",
      },
      async (dir) => {
        const inv = createFakeInvoker();
        inv.missing.add("calico");
        const p = createCniPlugin({
          invoker: inv,
          confDir: dir,
          netns: () => createFakeKernel().netns(null),
          syncIntervalMs: 0,
        });
        await p.init(host(), "hairpin-veth", "10.0.0.0/8", 0);
        assert.equal(p.defaultNetwork()?.list.name, "second");
        assert.equal(p.status(), null);
        await p.close!();
      },
    ));

  it("no config: not ready with the kubelet's words, and the reason", () =>
    withDir({}, async (dir) => {
      const p = createCniPlugin({
        invoker: createFakeInvoker(),
        confDir: dir,
        netns: () => createFakeKernel().netns(null),
        syncIntervalMs: 0,
      });
      await p.init(host(), "hairpin-veth", "", 0);
      assert.match(String(p.status()), /^Error: cni config uninitialized: no networks found in /);
      await assert.rejects(p.setUpPod("d", "w", "x", {}, {}), /cni config uninitialized/);
      writeFileSync(join(dir, "10-net.conflist"), list("net", [{ type: "bridge" }]));
      await p.syncNetworkConfig();
      assert.equal(p.status(), null);
      writeFileSync(join(dir, "10-net.conflist"), "{broken");
      await p.syncNetworkConfig();
      assert.equal(p.status(), null, "a config that turns invalid keeps the previous network");
    }));

  it("ipRanges needs a pod CIDR", () =>
    withDir(
      { "10-net.conflist": list("net", [{ type: "host-local-user", capabilities: { ipRanges: true } }]) },
      async (dir) => {
        const p = createCniPlugin({
          invoker: createFakeInvoker(),
          confDir: dir,
          netns: () => createFakeKernel().netns(null),
          syncIntervalMs: 0,
        });
        await p.init(host(), "hairpin-veth", "", 0);
        assert.equal(String(p.status()), "Error: cni config needs ipRanges but no PodCIDR set");
        p.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
        assert.equal(p.status(), null);
      },
    ));

  it("setUp adds loopback then the network; IPs from the result; teardown replays the cached ADD even after the conf dir changed", () =>
    withDir(
      {
        "10-net.conflist": list("net", [{ type: "bridge" }, { type: "portmap", capabilities: { portMappings: true } }]),
      },
      async (dir) => {
        const inv = createFakeInvoker();
        const p = createCniPlugin({
          invoker: inv,
          confDir: dir,
          netns: () => createFakeKernel().netns(null),
          syncIntervalMs: 0,
        });
        await p.init(host(), "hairpin-veth", "", 0);
        await p.setUpPod("default", "web", "sb1", {}, {});
        assert.deepEqual(
          inv.calls.filter((c) => c.op === "ADD").map((c) => c.network),
          ["cni-loopback", "net"],
        );
        assert.equal(inv.calls.find((c) => c.op === "ADD" && c.network === "net")!.rt!.netns, NS);
        assert.deepEqual(await p.getPodNetworkStatus("default", "web", "sb1"), {
          ip: "10.200.0.2",
          ips: ["10.200.0.2"],
        });
        // the admin swaps the network; the pod still goes away through the one it was added to
        rmSync(join(dir, "10-net.conflist"));
        writeFileSync(join(dir, "00-other.conflist"), list("other", [{ type: "ptp" }]));
        await p.syncNetworkConfig();
        assert.equal(p.defaultNetwork()?.list.name, "other");
        await p.tearDownPod("default", "web", "sb1");
        assert.deepEqual(
          inv.calls.filter((c) => c.op === "DEL").map((c) => c.network),
          ["cni-loopback", "net"],
        );
        assert.deepEqual(inv.calls.find((c) => c.op === "DEL" && c.network === "net")!.rt!.capabilityArgs, {
          portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "" }],
        });
        assert.equal(inv.cache.size, 0);
      },
    ));

  it("teardown without a netns and without a cache entry uses the current network with an empty CNI_NETNS", () =>
    withDir({ "10-net.conflist": list("net", [{ type: "bridge" }]) }, async (dir) => {
      const inv = createFakeInvoker();
      const p = createCniPlugin({
        invoker: inv,
        confDir: dir,
        netns: () => createFakeKernel().netns(null),
        syncIntervalMs: 0,
      });
      await p.init(host(null), "hairpin-veth", "", 0);
      await p.tearDownPod("default", "web", "gone");
      const del = inv.calls.find((c) => c.op === "DEL" && c.network === "net")!;
      assert.equal(del.rt!.netns, "");
      assert.equal(
        formatCniArgs(del.rt!.args!),
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=gone",
      );
    }));

  it("status falls back to the netns when nothing is cached", () =>
    withDir({ "10-net.conflist": list("net", [{ type: "bridge" }]) }, async (dir) => {
      const k = createFakeKernel({ netns: [NS] });
      await k.netns(NS).linkAddDummy("eth0", { up: true });
      await k.netns(NS).addrAdd("eth0", "10.200.0.9/24");
      await k.netns(NS).addrAdd("eth0", "fd00:200::9/64");
      const p = createCniPlugin({
        invoker: createFakeInvoker(),
        confDir: dir,
        netns: (x) => k.netns(x),
        syncIntervalMs: 0,
      });
      await p.init(host(), "hairpin-veth", "", 0);
      assert.deepEqual(await p.getPodNetworkStatus("d", "w", "unknown"), {
        ip: "10.200.0.9",
        ips: ["10.200.0.9", "fd00:200::9"],
      });
    }));

  it("gc removes attachments of sandboxes that no longer exist", () =>
    withDir({ "10-net.conflist": list("net", [{ type: "bridge" }]) }, async (dir) => {
      const inv = createFakeInvoker();
      const p = createCniPlugin({
        invoker: inv,
        confDir: dir,
        netns: () => createFakeKernel().netns(null),
        syncIntervalMs: 0,
      });
      await p.init(host(), "hairpin-veth", "", 0);
      await p.setUpPod("default", "a", "live", {}, {});
      await p.setUpPod("default", "b", "dead", {}, {});
      const released = await p.gc!(new Set(["live"]));
      assert.deepEqual(released.sort(), ["cni-loopback/dead/eth0", "net/dead/eth0"]);
      assert.deepEqual(
        inv
          .getCachedAttachments()
          .map((a) => a.containerID)
          .sort(),
        ["live", "live"],
      );
    }));

  it("verifyPod: CHECK through the chain with the cached ADD (0.4.0+); older configs: the cached addresses on the interface", async () => {
    await withDir(
      {
        "10-net.conflist": list("net", [{ type: "bridge" }, { type: "portmap", capabilities: { portMappings: true } }]),
      },
      async (dir) => {
        const inv = createFakeInvoker();
        const p = createCniPlugin({
          invoker: inv,
          confDir: dir,
          netns: () => createFakeKernel().netns(null),
          syncIntervalMs: 0,
        });
        await p.init(host(), "hairpin-veth", "", 0);
        await p.setUpPod("default", "web", "sb1", {}, {});
        assert.deepEqual(await p.verifyPod!("default", "web", "sb1", {}), []);
        const check = inv.calls.find((c) => c.op === "CHECK")!;
        assert.deepEqual([check.network, check.rt?.netns, check.rt?.ifName], ["net", NS, "eth0"]);
        assert.deepEqual(
          check.rt?.capabilityArgs,
          { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "" }] },
          "with the ADD's arguments",
        );
        inv.fail.set("CHECK net", new CniError(CniCode.Internal, 'interface "eth0" not found'));
        assert.deepEqual(await p.verifyPod!("default", "web", "sb1", {}), [
          'network "net" on eth0: CHECK failed: interface "eth0" not found',
        ]);
        assert.deepEqual(await p.verifyPod!("default", "web", "never-added", {}), [
          "no cached ADD result for sandbox never-added (its network was never added, or its cache entry is gone)",
        ]);
      },
    );
    await withDir(
      { "10-old.conf": JSON.stringify({ cniVersion: "0.3.1", name: "old", type: "bridge" }) },
      async (dir) => {
        const k = createFakeKernel({ netns: [NS] });
        const inv = createFakeInvoker();
        const p = createCniPlugin({ invoker: inv, confDir: dir, netns: (x) => k.netns(x), syncIntervalMs: 0 });
        await p.init(host(), "hairpin-veth", "", 0);
        await p.setUpPod("default", "web", "sb1", {}, {});
        assert.deepEqual(await p.verifyPod!("default", "web", "sb1", {}), [
          'network "old": eth0 is missing in /run/netns/p',
        ]);
        await k.netns(NS).linkAddDummy("eth0", { up: true });
        await k.netns(NS).addrAdd("eth0", "10.200.0.7/24");
        assert.deepEqual(await p.verifyPod!("default", "web", "sb1", {}), [
          'network "old": eth0 in /run/netns/p does not have 10.200.0.2',
        ]);
        await k.netns(NS).addrAdd("eth0", "10.200.0.2/24");
        assert.deepEqual(await p.verifyPod!("default", "web", "sb1", {}), []);
        assert.equal(inv.calls.filter((c) => c.op === "CHECK").length, 0, "0.3.1 has no CHECK");
      },
    );
  });
});
