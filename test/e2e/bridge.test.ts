// podnet's loopback + bridge + host-local, built (node scripts/build.mjs) and exec'd exactly as a
// runtime does (podnet's CniRuntime, plugins run inside the sandbox node netns), alone and mixed
// with Debian's Go reference plugins in both orders. Sandbox namespaces and 10.200.0.0/16 only.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { parseConfList, type Result } from "../../src/cni/index.js";
import { CniRuntime, type RuntimeConf } from "../../src/libcni/index.js";
import { GO_PLUGINS, PODNET_PLUGINS, inNs, withSandbox, type Sandbox } from "./sandbox.js";

const built = existsSync(join(PODNET_PLUGINS, "bridge")) && existsSync(join(PODNET_PLUGINS, "loopback"));
const skip =
  process.getuid?.() !== 0
    ? "needs root"
    : !built
      ? "run `node scripts/build.mjs` first"
      : !existsSync(join(GO_PLUGINS, "portmap"))
        ? "Go plugins missing"
        : false;

/** A CNI_PATH directory whose entries point at the chosen implementation of each plugin. */
function pluginDir(sb: Sandbox, name: string, pick: Record<string, string>): string {
  const dir = join(sb.dir, name);
  mkdirSync(dir);
  for (const [plugin, from] of Object.entries(pick)) symlinkSync(join(from, plugin), join(dir, plugin));
  return dir;
}

function runtime(sb: Sandbox, path: string[]) {
  return new CniRuntime({ path, cacheDir: join(sb.dir, "cache"), exec: sb.nodeExec() });
}

function pods(sb: Sandbox, n: number, tag = "pod"): RuntimeConf[] {
  return Array.from({ length: n }, (_, i) => {
    const ns = sb.netns(`${tag}${i}`);
    return {
      containerID: `ctr-${sb.id}-${tag}${i}`,
      netns: sb.path(ns),
      ifName: "eth0",
      args: [
        ["IgnoreUnknown", "1"],
        ["K8S_POD_NAMESPACE", "default"],
        ["K8S_POD_NAME", `pod${i}`],
      ] as Array<[string, string]>,
    };
  });
}

const nsName = (rt: RuntimeConf) => rt.netns.split("/").pop()!;
const ipOf = (r: Result) => r.ips?.[0]?.address.split("/")[0] ?? "";
const vethsIn = (sb: Sandbox) =>
  sb
    .ipJson(sb.node, ["link", "show"])
    .map((l) => String(l["ifname"]))
    .filter((n) => n.startsWith("veth"));
const leases = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f) && /\d/.test(f[0] ?? "")) : [];
const nat = (sb: Sandbox) => inNs(sb.node, ["iptables-save", "-t", "nat"]).out;

function bridgeConf(sb: Sandbox, subnet: string, extra: Record<string, unknown> = {}) {
  return {
    type: "bridge",
    bridge: "pt-cni0",
    isGateway: true,
    ipMasq: true,
    ipam: { type: "host-local", subnet, dataDir: join(sb.dir, "ipam"), routes: [{ dst: "0.0.0.0/0" }] },
    ...extra,
  };
}

describe("podnet bridge, exec'd as a runtime does", { skip }, () => {
  for (const version of ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    it(`[${version}] two pods ping each other and the gateway; CHECK; DEL leaves no veth, lease, rule or cache`, () =>
      withSandbox(async (sb) => {
        const list = parseConfList(
          JSON.stringify({
            name: "podnet-e2e",
            cniVersion: version,
            plugins: [{ type: "loopback" }, bridgeConf(sb, "10.200.60.0/24")],
          }),
        );
        const rtm = runtime(sb, [PODNET_PLUGINS]);
        const rts = pods(sb, 2);
        const results: Result[] = [];
        for (const rt of rts) results.push((await rtm.addNetworkList(list, rt)) as Result);
        for (const r of results) {
          assert.equal(r.cniVersion, version);
          assert.match(ipOf(r), /^10\.200\.60\.\d+$/);
          assert.deepEqual(
            r.interfaces?.map((i) => i.name.replace(/^veth[0-9a-f]{8}$/, "vethX")),
            ["pt-cni0", "vethX", "eth0"],
          );
        }
        const [a, b] = rts as [RuntimeConf, RuntimeConf];
        assert.equal(inNs(nsName(a), ["ping", "-c1", "-W2", ipOf(results[1]!)]).status, 0, "pod 0 → pod 1");
        assert.equal(inNs(nsName(b), ["ping", "-c1", "-W2", "10.200.60.1"]).status, 0, "pod 1 → gateway");
        assert.equal(inNs(nsName(a), ["ping", "-c1", "-W2", "127.0.0.1"]).status, 0, "loopback is up");
        assert.match(
          nat(sb),
          /-A POSTROUTING -s 10\.200\.60\.\d+\/32 -m comment --comment "name: \\"podnet-e2e\\" id: \\"ctr-/,
        );
        if (version !== "0.3.1") await rtm.checkNetworkList(list, a);
        if (version === "1.1.0") {
          await rtm.getStatusNetworkList(list);
          // GC: pod 1 is no longer valid, and a lease of a container that died unnoticed lingers.
          const store = join(sb.dir, "ipam", "podnet-e2e");
          writeFileSync(join(store, "10.200.60.99"), "ctr-dead\r\neth0");
          await rtm.gcNetworkList(list, { validAttachments: [{ containerID: a.containerID, ifname: "eth0" }] });
          assert.deepEqual(leases(store), [ipOf(results[0]!)], "GC went through bridge to host-local");
          assert.equal(vethsIn(sb).length, 1, "pod 1 was torn down by GC");
          assert.equal(inNs(nsName(a), ["ping", "-c1", "-W2", "10.200.60.1"]).status, 0, "pod 0 still works");
        }
        for (const rt of rts) await rtm.delNetworkList(list, rt);
        for (const rt of rts) await rtm.delNetworkList(list, rt); // idempotent
        assert.deepEqual(vethsIn(sb), []);
        for (const rt of rts)
          assert.deepEqual(
            sb.ipJson(nsName(rt), ["link", "show"]).map((l) => l["ifname"]),
            ["lo"],
          );
        assert.deepEqual(leases(join(sb.dir, "ipam", "podnet-e2e")), []);
        assert.doesNotMatch(nat(sb), /CNI-[0-9a-f]{24}/);
        assert.deepEqual(readdirSync(join(sb.dir, "cache", "results")), []);
      }));
  }

  it("the host-local lease is written in Go's format (in-process IPAM, same store)", () =>
    withSandbox(async (sb) => {
      const list = parseConfList(
        JSON.stringify({
          name: "podnet-hl",
          cniVersion: "1.0.0",
          plugins: [bridgeConf(sb, "10.200.61.0/24", { ipMasq: false })],
        }),
      );
      const rtm = runtime(sb, [PODNET_PLUGINS]);
      const [rt] = pods(sb, 1) as [RuntimeConf];
      const r = (await rtm.addNetworkList(list, rt)) as Result;
      assert.equal(readFileSync(join(sb.dir, "ipam", "podnet-hl", ipOf(r)), "utf8"), `${rt.containerID}\r\neth0`);
      await rtm.delNetworkList(list, rt);
      assert.deepEqual(leases(join(sb.dir, "ipam", "podnet-hl")), []);
    }));
});

describe("chains mixing podnet and the Go plugins", { skip }, () => {
  it("podnet bridge → Go portmap: the hostPort reaches the pod; DEL removes both plugins' rules", () =>
    withSandbox(async (sb) => {
      const path = pluginDir(sb, "cni-bin", {
        bridge: PODNET_PLUGINS,
        "host-local": PODNET_PLUGINS,
        loopback: PODNET_PLUGINS,
        portmap: GO_PLUGINS,
      });
      const list = parseConfList(
        JSON.stringify({
          name: "podnet-pm",
          cniVersion: "1.0.0",
          plugins: [bridgeConf(sb, "10.200.62.0/24"), { type: "portmap", capabilities: { portMappings: true } }],
        }),
      );
      const rtm = runtime(sb, [path]);
      const [rt] = pods(sb, 1) as [RuntimeConf];
      const rtPm = {
        ...rt,
        capabilityArgs: { portMappings: [{ hostPort: 18480, containerPort: 8080, protocol: "tcp" }] },
      };
      const r = (await rtm.addNetworkList(list, rtPm)) as Result;
      assert.match(ipOf(r), /^10\.200\.62\.\d+$/);
      assert.match(nat(sb), /CNI-DN-[0-9a-f]+/);
      // A server in the pod, reached from the node through the hostPort on the gateway address.
      const server = spawn(
        "ip",
        [
          "netns",
          "exec",
          nsName(rt),
          "python3",
          "-c",
          "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',8080));s.listen(1);print('up',flush=True);c,_=s.accept();c.sendall(b'hello from pod');c.close()",
        ],
        { stdio: ["ignore", "pipe", "ignore"] },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          server.stdout.once("data", () => resolve());
          server.once("exit", (code) => reject(new Error(`server exited ${code}`)));
          setTimeout(() => reject(new Error("server did not start")), 5000);
        });
        const got = inNs(sb.node, ["curl", "-s", "--max-time", "3", "telnet://10.200.62.1:18480"], 5000);
        assert.match(got.out, /hello from pod/);
      } finally {
        server.kill();
      }
      await rtm.delNetworkList(list, rtPm);
      assert.doesNotMatch(nat(sb), /CNI-DN-|CNI-[0-9a-f]{24}/);
      assert.deepEqual(vethsIn(sb), []);
    }));

  it("Go bridge → podnet host-local as its IPAM: pods get addresses and talk; DEL releases them", () =>
    withSandbox(async (sb) => {
      const path = pluginDir(sb, "cni-bin", {
        bridge: GO_PLUGINS,
        "host-local": PODNET_PLUGINS,
        loopback: PODNET_PLUGINS,
      });
      const list = parseConfList(
        JSON.stringify({
          name: "podnet-gohl",
          cniVersion: "0.4.0",
          plugins: [{ type: "loopback" }, bridgeConf(sb, "10.200.63.0/24")],
        }),
      );
      const rtm = runtime(sb, [path]);
      const rts = pods(sb, 2);
      const results: Result[] = [];
      for (const rt of rts) results.push((await rtm.addNetworkList(list, rt)) as Result);
      assert.deepEqual(results.map(ipOf).sort(), ["10.200.63.2", "10.200.63.3"]);
      assert.equal(inNs(nsName(rts[0]!), ["ping", "-c1", "-W2", ipOf(results[1]!)]).status, 0);
      assert.deepEqual(leases(join(sb.dir, "ipam", "podnet-gohl")).sort(), ["10.200.63.2", "10.200.63.3"]);
      await rtm.checkNetworkList(list, rts[0]!);
      for (const rt of rts) await rtm.delNetworkList(list, rt);
      assert.deepEqual(leases(join(sb.dir, "ipam", "podnet-gohl")), []);
      assert.deepEqual(vethsIn(sb), []);
    }));

  it("what one implementation's ADD made, the other's DEL removes (veth, lease, masquerade chain)", () =>
    withSandbox(async (sb) => {
      const podnet = pluginDir(sb, "podnet-bin", { bridge: PODNET_PLUGINS, "host-local": PODNET_PLUGINS });
      const golang = pluginDir(sb, "go-bin", { bridge: GO_PLUGINS, "host-local": GO_PLUGINS });
      const list = parseConfList(
        JSON.stringify({ name: "podnet-x", cniVersion: "1.0.0", plugins: [bridgeConf(sb, "10.200.64.0/24")] }),
      );
      for (const [adder, deleter] of [
        [podnet, golang],
        [golang, podnet],
      ] as const) {
        const [rt] = pods(sb, 1, adder === podnet ? "p" : "g") as [RuntimeConf];
        await runtime(sb, [adder]).addNetworkList(list, rt);
        assert.match(nat(sb), /CNI-[0-9a-f]{24}/);
        await runtime(sb, [deleter]).delNetworkList(list, rt);
        assert.doesNotMatch(
          nat(sb),
          /CNI-[0-9a-f]{24}/,
          `${adder === podnet ? "podnet ADD, Go DEL" : "Go ADD, podnet DEL"}: chain left`,
        );
        assert.deepEqual(vethsIn(sb), []);
        assert.deepEqual(leases(join(sb.dir, "ipam", "podnet-x")), []);
      }
    }));
});
