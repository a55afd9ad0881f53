// podnet's runtime (libcni) driving Debian's Go reference plugins in sandbox namespaces: the
// seeds' conflist with `calico` replaced by `bridge`, plus portmap and bandwidth.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfList, type Result, type Result040 } from "../../src/cni/index.js";
import { CniRuntime, decodeCacheEntry, loadNetworkConf } from "../../src/libcni/index.js";
import { GO_PLUGINS, inNs, REPO, withSandbox, type Sandbox } from "./sandbox.js";
import { spawnSync } from "node:child_process";

function seedConflist(sb: Sandbox, version: string, subnet: string) {
  return {
    name: "k8s-pod-network",
    cniVersion: version,
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipMasq: true,
        ipam: { type: "host-local", subnet, dataDir: join(sb.dir, "ipam"), routes: [{ dst: "0.0.0.0/0" }] },
      },
      { type: "portmap", capabilities: { portMappings: true }, externalSetMarkChain: "KUBE-MARK-MASQ" },
      { type: "bandwidth", capabilities: { bandwidth: true } },
    ],
  };
}

const ipOf = (r: Result | Result040) => r.ips?.[0]?.address.split("/")[0] ?? "";

for (const version of ["0.3.1", "0.4.0", "1.0.0"]) {
  describe(`[${version}] podnet runtime + Go reference plugins`, () => {
    it("two pods get addresses, ping each other and the gateway; DEL leaves nothing behind", () =>
      withSandbox(async (sb) => {
        // The chain the seed names for hostPort marking must exist (kube-proxy makes it on a real node).
        spawnSync("ip", ["netns", "exec", sb.node, "iptables", "-t", "nat", "-N", "KUBE-MARK-MASQ"]);
        const list = parseConfList(JSON.stringify(seedConflist(sb, version, "10.200.1.0/24")));
        const rtm = new CniRuntime({ path: [GO_PLUGINS], cacheDir: join(sb.dir, "cache"), exec: sb.nodeExec() });
        const pods = ["a", "b"].map((n) => ({ ns: sb.netns(`pod${n}`), id: `ctr-${sb.id}-${n}` }));
        const rts = pods.map((p, i) => ({
          containerID: p.id,
          netns: sb.path(p.ns),
          ifName: "eth0",
          args: [
            ["IgnoreUnknown", "1"],
            ["K8S_POD_NAMESPACE", "default"],
            ["K8S_POD_NAME", `pod${i}`],
          ] as Array<[string, string]>,
          capabilityArgs: {
            portMappings: [{ hostPort: 18080 + i, containerPort: 80, protocol: "tcp" }],
            bandwidth: {
              ingressRate: 10_000_000,
              ingressBurst: 1_000_000,
              egressRate: 10_000_000,
              egressBurst: 1_000_000,
            },
          },
        }));
        const results: Array<Result | Result040> = [];
        for (const rt of rts) results.push((await rtm.addNetworkList(list, rt)) as Result040);
        for (const r of results) {
          assert.equal(r.cniVersion, version);
          assert.match(ipOf(r), /^10\.200\.1\.\d+$/);
        }
        assert.notEqual(ipOf(results[0]!), ipOf(results[1]!));
        // Connectivity: pod → pod and pod → gateway (the bridge in the node namespace).
        assert.equal(inNs(pods[0]!.ns, ["ping", "-c1", "-W2", ipOf(results[1]!)]).status, 0, "pod a → pod b");
        assert.equal(inNs(pods[1]!.ns, ["ping", "-c1", "-W2", "10.200.1.1"]).status, 0, "pod b → gateway");
        // Shaping is in place: a tbf on the host veth and an ifb for egress.
        const qd = inNs(sb.node, ["tc", "qdisc", "show"]).out;
        assert.match(qd, /qdisc tbf/);
        // The cache is Go libcni's cniCacheV1 with the config bytes and the result.
        const cacheFile = join(sb.dir, "cache", "results", `k8s-pod-network-${pods[0]!.id}-eth0`);
        const raw = readFileSync(cacheFile, "utf8");
        assert.match(raw, /^\{"kind":"cniCacheV1","containerId":"ctr-[0-9a-f]+-a","config":"/);
        const entry = decodeCacheEntry(raw)!;
        assert.equal(entry.config.toString(), list.bytes.toString());
        assert.equal(entry.netns, rts[0]!.netns);
        assert.deepEqual(structuredClone(entry.capabilityArgs), rts[0]!.capabilityArgs); // read back without prototypes
        assert.equal((entry.rawResult?.["cniVersion"] as string) ?? "", version);
        // CHECK: the Go 1.1.1 plugins implement it from 0.4.0 on (portmap's fails for IPv4-only pods, plugins#819).
        if (version !== "0.3.1") {
          const bridgeOnly = parseConfList(
            JSON.stringify({
              ...seedConflist(sb, version, "10.200.1.0/24"),
              plugins: [seedConflist(sb, version, "10.200.1.0/24").plugins[0]],
            }),
          );
          await rtm.checkNetworkList({ ...bridgeOnly, bytes: list.bytes }, rts[0]!);
        } else {
          await assert.rejects(rtm.checkNetworkList(list, rts[0]!), /does not support the CHECK command/);
        }
        for (const rt of rts) await rtm.delNetworkList(list, rt);
        for (const rt of rts) await rtm.delNetworkList(list, rt); // DEL is idempotent
        // Nothing left: no veth in the node, no lease, no cache entry, no per-pod chains, no ifb.
        const links = sb.ipJson(sb.node, ["link", "show"]).map((l) => String(l["ifname"]));
        assert.deepEqual(
          links.filter((n) => n !== "lo" && n !== "cni0"),
          [],
          `links left: ${links}`,
        );
        const leases = readdirSync(join(sb.dir, "ipam", "k8s-pod-network")).filter((f) => /^\d/.test(f));
        assert.deepEqual(leases, []);
        assert.equal(existsSync(cacheFile), false);
        const nat = inNs(sb.node, ["iptables-save", "-t", "nat"]).out;
        assert.doesNotMatch(nat, /CNI-DN-|-A CNI-[0-9a-f]{24}/, "per-pod chains removed");
      }));
  });
}

describe("podnet cni (the CLI) with CNI_PATH=/usr/lib/cni", () => {
  it("add gives a pod an address, check passes, del removes it", () =>
    withSandbox(async (sb) => {
      const confDir = join(sb.dir, "net.d");
      mkdirSync(confDir);
      const conf = {
        cniVersion: "1.0.0",
        name: "clinet",
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipam: { type: "host-local", subnet: "10.200.2.0/24", dataDir: join(sb.dir, "ipam") },
      };
      writeFileSync(join(confDir, "10-clinet.conf"), JSON.stringify(conf));
      const pod = sb.netns("pod");
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        NETCONFPATH: confDir,
        CNI_PATH: GO_PLUGINS,
        CNI_CACHE_DIR: join(sb.dir, "cache"),
      };
      delete env["NODE_EXTRA_CA_CERTS"];
      const cli = (...a: string[]) =>
        spawnSync("ip", ["netns", "exec", sb.node, join(REPO, "bin", "podnet"), "cni", ...a], {
          env,
          encoding: "utf8",
        });
      const add = cli("add", "clinet", sb.path(pod));
      assert.equal(add.status, 0, add.stderr + add.stdout);
      const res = JSON.parse(add.stdout) as Result;
      assert.match(res.ips?.[0]?.address ?? "", /^10\.200\.2\.\d+\/24$/);
      const addrs = sb.ipJson(pod, ["addr", "show", "eth0"]);
      assert.match(JSON.stringify(addrs), new RegExp(`"local":"${ipOf(res).replace(/\./g, "\\.")}"`));
      assert.equal(cli("check", "clinet", sb.path(pod)).status, 0);
      const cached = readdirSync(join(sb.dir, "cache", "results"));
      assert.match(cached[0] ?? "", /^clinet-cnitool-[0-9a-f]{20}-eth0$/);
      const del = cli("del", "clinet", sb.path(pod));
      assert.equal(del.status, 0, del.stderr);
      assert.deepEqual(
        sb.ipJson(pod, ["link", "show"]).map((l) => l["ifname"]),
        ["lo"],
      );
      assert.deepEqual(readdirSync(join(sb.dir, "cache", "results")), []);
      // A netns that does not exist: a CNI error with code 3 on stdout, non-zero exit.
      const bad = cli("add", "clinet", "/run/netns/podnet-t-missing");
      assert.equal(bad.status, 1);
      assert.equal((JSON.parse(bad.stdout) as { code: number }).code, 3);
      // An unknown network names the directory.
      const none = cli("add", "nosuch", sb.path(pod));
      assert.match(none.stdout, /no net configuration with name \\"nosuch\\"/);
    }));
  it("loadNetworkConf finds the same file", () => {
    assert.ok(typeof loadNetworkConf === "function");
  });
});
