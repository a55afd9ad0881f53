// bridge against the real kernel: the plugin functions run in this process with a sandbox "node"
// netns as their host netns (netlink and sysctl bound to it, iptables/nft/bridge through
// `ip netns exec NODE`), pods in their own namespaces, host-local in-process on a temp dir.
// iproute2, iptables-save and nft output are the oracle. Namespaces are podnet-t-*, addresses in
// 10.200.0.0/16 and fd00:200::/48 only.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Result } from "../../../cni/index.js";
import { ExecError, nodeExec, type Exec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { netnsSkip, withTempNetns, type TempNetns } from "../../../kernel/testing.js";
import type { Kernel } from "../../../kernel/types.js";
import { invokeFuncs, type Invocation } from "../../../sdk/testing.js";
import { testDeps, withTempDir } from "../../ipam/host-local/testing.js";
import { BRIDGE_ABOUT, createBridge, type BridgeDeps } from "./bridge.js";
import { createIpamDelegate } from "./ipam.js";
import { isPodnetBundle } from "../../../sdk/bundle.js";
import { existsSync } from "node:fs";
import { formatChainName } from "../../utils.js";
import { setupIPMasq, setupIPMasqFamily, teardownIPMasq, teardownIPMasqFamily } from "./ipmasq.js";

/** Debian's Go reference plugins (containernetworking-plugins), when installed. */
const GO_BRIDGE = "/usr/lib/cni/bridge";

const BANNER = Buffer.from('#!node\nplugin podnet v\n"host-local"\n');

interface Env {
  readonly node: TempNetns;
  readonly pods: TempNetns[];
  readonly dataDir: string;
  readonly kernel: Kernel;
  readonly deps: BridgeDeps;
  /** Commands run in the node netns. */
  readonly nodeExec: Exec;
  run(command: string, conf: Record<string, unknown>, inv?: Partial<Invocation>): ReturnType<typeof invokeFuncs>;
}

/** `exec` inside the node netns; `failOn` makes matching commands fail as if the tool had. */
function inNode(node: TempNetns, failOn?: RegExp): Exec {
  return {
    run(argv, opts) {
      if (failOn?.test(argv.join(" "))) return Promise.reject(new ExecError(argv, 1, "", "injected failure"));
      return nodeExec.run(["ip", "netns", "exec", node.name, ...argv], opts);
    },
  };
}

function withEnv(pods: number, fn: (env: Env) => Promise<void>, opts: { failOn?: RegExp } = {}): Promise<void> {
  return withTempDir((dir) =>
    withTempNetns(async (node, ...podNs) => {
      const kernel = createKernel();
      const exec = inNode(node, opts.failOn);
      const ipam = createIpamDelegate({
        exec: { run: () => Promise.reject(new Error("no exec expected")) },
        find: (name) => `/podnet/${name}`,
        hostLocal: testDeps(),
        isPodnetPlugin: (_p, name) => isPodnetBundle(BANNER, name),
      });
      const deps: BridgeDeps = { kernel, exec, ipam, hostNetns: node.path };
      const plugin = createBridge(deps);
      try {
        await fn({
          node,
          pods: podNs,
          dataDir: join(dir, "ipam"),
          kernel,
          deps,
          nodeExec: inNode(node),
          run: (command, conf, inv = {}) =>
            invokeFuncs(plugin, BRIDGE_ABOUT, {
              command,
              conf,
              netns: podNs[0]!.path,
              ifName: "eth0",
              containerID: "ctr-a",
              path: "/podnet",
              ...inv,
            }),
        });
      } finally {
        kernel.close();
      }
    }, 1 + pods),
  );
}

function conf(env: Env, extra: Record<string, unknown> = {}, ranges: unknown = [[{ subnet: "10.200.40.0/24" }]]) {
  return {
    cniVersion: "1.0.0",
    name: "podnet-t-br",
    type: "bridge",
    bridge: "pt-br0",
    ipam: { type: "host-local", ranges, dataDir: env.dataDir },
    ...extra,
  };
}

const ping = (ns: TempNetns, ip: string) =>
  ns.exec("ping", "-c1", "-W2", ip).then(
    () => true,
    () => false,
  );
const links = async (ns: TempNetns) => (await ns.ipJson("link", "show")).map((l) => String(l["ifname"]));
const natSave = (env: Env, fam: 4 | 6 = 4) =>
  env.nodeExec.run([fam === 4 ? "iptables-save" : "ip6tables-save", "-t", "nat"]);

describe("bridge in real namespaces", { skip: netnsSkip() }, () => {
  it("dual-stack ADD with gateway and masquerade: kernel state, pings, CHECK; DEL removes veth, lease and rules", () =>
    withEnv(2, async (env) => {
      const c = conf(env, { isGateway: true, ipMasq: true }, [
        [{ subnet: "10.200.40.0/24" }],
        [{ subnet: "fd00:200:40::/64" }],
      ]);
      const a = await env.run("ADD", c);
      assert.equal(a.code, 0, a.stdout);
      const b = await env.run("ADD", c, { netns: env.pods[1]!.path, containerID: "ctr-b" });
      assert.equal(b.code, 0, b.stdout);
      const ra = a.json as unknown as Result;
      assert.equal((b.json as unknown as Result).ips?.[0]?.address, "10.200.40.3/24");
      assert.deepEqual(
        ra.ips?.map((i) => [i.address, i.gateway, i.interface]),
        [
          ["10.200.40.2/24", "10.200.40.1", 2],
          ["fd00:200:40::2/64", "fd00:200:40::1", 2],
        ],
      );
      // Node side: the bridge carries both gateways, the host veth is its port.
      const [br] = await env.node.ipJson("addr", "show", "pt-br0");
      const brAddrs = (br["addr_info"] as Array<Record<string, unknown>>).map((x) => `${x["local"]}/${x["prefixlen"]}`);
      assert.ok(brAddrs.includes("10.200.40.1/24") && brAddrs.includes("fd00:200:40::1/64"), brAddrs.join(" "));
      const hostVeth = ra.interfaces![1]!.name;
      const [hv] = await env.node.ipJson("-d", "link", "show", hostVeth);
      assert.equal(hv["master"], "pt-br0");
      assert.equal(hv["operstate"], "UP");
      const [port] = JSON.parse(
        await env.nodeExec.run(["bridge", "-d", "-j", "link", "show", "dev", hostVeth]),
      ) as Array<Record<string, unknown>>;
      assert.equal(port!["hairpin"], false, "hairpinMode unset: the port's hairpin is off");
      assert.equal(ra.interfaces![0]!.mac, br["address"]);
      // Pod side: address and prefix route.
      const [eth0] = await env.pods[0]!.ipJson("addr", "show", "eth0");
      assert.equal(eth0["address"], ra.interfaces![2]!.mac);
      assert.ok((eth0["addr_info"] as Array<Record<string, unknown>>).some((x) => x["local"] === "10.200.40.2"));
      // Traffic: pod → pod (both families) and pod → gateway.
      assert.ok(await ping(env.pods[0]!, "10.200.40.3"), "a → b");
      assert.ok(await ping(env.pods[1]!, "10.200.40.1"), "b → gateway");
      assert.ok(await ping(env.pods[0]!, "fd00:200:40::3"), "a → b over IPv6");
      // Masquerade rules, Go's chain name and comment.
      const chain = formatChainName("podnet-t-br", "ctr-a");
      assert.match(
        await natSave(env),
        new RegExp(
          `^-A POSTROUTING -s 10\\.200\\.40\\.2/32 -m comment --comment "name: \\\\"podnet-t-br\\\\" id: \\\\"ctr-a\\\\"" -j ${chain}$`,
          "m",
        ),
      );
      assert.match(await natSave(env, 6), new RegExp(`^-A ${chain} -d fd00:200:40::/64 `, "m"));
      assert.equal((await env.run("CHECK", { ...c, prevResult: a.json })).code, 0);
      const del = await env.run("DEL", c);
      assert.equal(del.code, 0, del.stdout);
      assert.ok(!(await links(env.node)).includes(hostVeth));
      assert.ok(!(await links(env.pods[0]!)).includes("eth0"));
      assert.doesNotMatch((await natSave(env)) + (await natSave(env, 6)), new RegExp(chain));
      const leases = await readdir(join(env.dataDir, "podnet-t-br"));
      assert.ok(!leases.includes("10.200.40.2") && leases.includes("10.200.40.3"), leases.join(" "));
      assert.equal((await env.run("DEL", c)).code, 0, "DEL twice");
      assert.equal((await env.run("DEL", c, { netns: env.pods[1]!.path, containerID: "ctr-b" })).code, 0);
      assert.deepEqual(
        (await links(env.node)).filter((l) => l.startsWith("veth")),
        [],
      );
    }));

  it("an ADD that fails at masquerade leaves no veth, no lease and no rule", () =>
    withEnv(
      1,
      async (env) => {
        const c = conf(env, { isGateway: true, ipMasq: true });
        const out = await env.run("ADD", c);
        assert.equal(out.code, 1);
        assert.match(String(out.json?.["msg"]), /failed to set up IP masquerade/);
        assert.deepEqual(
          (await links(env.node)).filter((l) => l.startsWith("veth")),
          [],
        );
        assert.ok(!(await links(env.pods[0]!)).includes("eth0"));
        assert.deepEqual(
          (await readdir(join(env.dataDir, "podnet-t-br"))).filter((f) => f.startsWith("10.")),
          [],
        );
        assert.doesNotMatch(await natSave(env), /CNI-/);
      },
      { failOn: /^iptables-restore/ },
    ));

  it("DEL after the netns is gone still removes the masquerade rules and the lease (plugins#810)", () =>
    withEnv(1, async (env) => {
      const c = conf(env, { ipMasq: true });
      assert.equal((await env.run("ADD", c)).code, 0);
      const path = env.pods[0]!.path;
      env.kernel.netns(path).close();
      await env.pods[0]!.delete();
      const out = await env.run("DEL", c, { netns: path });
      assert.equal(out.code, 0, out.stdout);
      assert.doesNotMatch(await natSave(env), /CNI-/);
      assert.deepEqual(
        (await readdir(join(env.dataDir, "podnet-t-br"))).filter((f) => f.startsWith("10.")),
        [],
      );
    }));

  it("nftables masquerade backend and mac spoof check: rules in, rules out", () =>
    withEnv(1, async (env) => {
      const c = conf(env, { ipMasq: true, ipMasqBackend: "nftables", macspoofchk: true });
      const out = await env.run("ADD", c);
      assert.equal(out.code, 0, out.stdout);
      const mac = (out.json as unknown as Result).interfaces![2]!.mac!;
      const masq = await env.nodeExec.run(["nft", "list", "table", "inet", "cni_plugins_masquerade"]);
      assert.match(
        masq,
        /ip saddr 10\.200\.40\.2 ip daddr != 10\.200\.40\.0\/24 masquerade comment "[0-9a-f]{16}-[0-9a-f]{16}, net: podnet-t-br, if: eth0, id: ctr-a"/,
      );
      const spoof = await env.nodeExec.run(["nft", "list", "table", "bridge", "nat"]);
      assert.match(spoof, /chain cni-br-iface-ctr-a-eth0-mac \{/);
      assert.match(spoof, new RegExp(`ether saddr ${mac} return comment "macspoofchk-ctr-a-eth0"`));
      assert.equal((await env.run("DEL", c)).code, 0);
      assert.doesNotMatch(
        await env.nodeExec.run(["nft", "list", "table", "inet", "cni_plugins_masquerade"]),
        /masquerade comment/,
      );
      const after = await env.nodeExec.run(["nft", "list", "table", "bridge", "nat"]);
      assert.doesNotMatch(after, /cni-br-iface-ctr-a-eth0/);
      assert.match(after, /chain PREROUTING/, "the base chain stays, as in Go");
    }));

  it("hairpin, portIsolation, mtu, MAC and an L2 attachment", () =>
    withEnv(1, async (env) => {
      const c = {
        cniVersion: "1.0.0",
        name: "podnet-t-l2",
        type: "bridge",
        bridge: "pt-br1",
        mtu: 1400,
        hairpinMode: true,
        portIsolation: true,
        runtimeConfig: { mac: "0a:58:0a:c8:28:09" },
      };
      const out = await env.run("ADD", c);
      assert.equal(out.code, 0, out.stdout);
      const r = out.json as unknown as Result;
      assert.equal(r.interfaces![2]!.mac, "0a:58:0a:c8:28:09");
      const [port] = JSON.parse(
        await env.nodeExec.run(["bridge", "-d", "-j", "link", "show", "dev", r.interfaces![1]!.name]),
      ) as Array<Record<string, unknown>>;
      assert.equal(port!["hairpin"], true);
      assert.equal(port!["isolated"], true);
      assert.equal(port!["mtu"], 1400);
      const [eth0] = await env.pods[0]!.ipJson("link", "show", "eth0");
      assert.equal(eth0["mtu"], 1400);
      assert.equal(eth0["operstate"], "UP");
      assert.equal((await env.run("CHECK", { ...c, prevResult: out.json })).code, 0, "L2 CHECK needs no IPAM");
      assert.equal((await env.run("DEL", c)).code, 0);
      assert.deepEqual(
        (await links(env.node)).filter((l) => l.startsWith("veth")),
        [],
      );
    }));

  it("errors: a bridge name that is not a bridge, an existing container interface", () =>
    withEnv(1, async (env) => {
      await env.node.ip("link", "add", "pt-notbr", "type", "veth", "peer", "name", "pt-notbr-p");
      const out = await env.run("ADD", conf(env, { bridge: "pt-notbr" }));
      assert.equal(out.code, 1);
      assert.equal(
        out.json?.["msg"],
        'failed to create bridge "pt-notbr": "pt-notbr" already exists but is not a bridge',
      );
      await env.pods[0]!.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
      const dup = await env.run("ADD", conf(env));
      assert.equal(dup.code, 1);
      assert.match(
        String(dup.json?.["msg"]),
        /^container veth name \("eth0"\) peer provided \("veth[0-9a-f]{8}"\) already exists$/,
      );
      assert.deepEqual(
        (await links(env.node)).filter((l) => l.startsWith("veth")),
        [],
      );
      assert.deepEqual(
        (await readdir(join(env.dataDir, "podnet-t-br")).catch(() => [])).filter((f) => f.startsWith("10.")),
        [],
      );
    }));

  it("vlan: access port with PVID on a vlan_filtering bridge, VLAN 1 removed (when the kernel has bridge VLAN filtering)", (t) =>
    withEnv(1, async (env) => {
      try {
        await env.node.ip("link", "add", "pt-vlprobe", "type", "bridge", "vlan_filtering", "1");
      } catch {
        t.skip("this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)");
        return;
      }
      const c = conf(env, { bridge: "pt-brv", vlan: 100, preserveDefaultVlan: false });
      const out = await env.run("ADD", c);
      assert.equal(out.code, 0, out.stdout);
      const hostVeth = (out.json as unknown as Result).interfaces![1]!.name;
      const vlans = JSON.parse(await env.nodeExec.run(["bridge", "-j", "vlan", "show", "dev", hostVeth])) as Array<{
        vlans: Array<{ vlan: number; flags?: string[] }>;
      }>;
      assert.deepEqual(
        vlans[0]!.vlans.map((v) => [v.vlan, v.flags]),
        [[100, ["PVID", "Egress Untagged"]]],
      );
      assert.equal((await env.run("DEL", c)).code, 0);
    }));

  it("iptables masquerade is append-unique against the real iptables and tears down to nothing", () =>
    withEnv(0, async (env) => {
      const t = { network: "podnet-t-mq", ifName: "eth0", containerID: "ctr-m" };
      const addrs = ["10.200.41.5/24", "fd00:200:41::5/64"];
      await setupIPMasq(env.nodeExec, "iptables", addrs, t);
      const once = (await natSave(env)) + (await natSave(env, 6));
      await setupIPMasq(env.nodeExec, "iptables", addrs, t);
      const twice = (await natSave(env)) + (await natSave(env, 6));
      const rules = (s: string) => s.split("\n").filter((l) => l.startsWith("-A ") || l.startsWith(":CNI-"));
      assert.deepEqual(rules(twice), rules(once));
      assert.equal(rules(once).length, 8, rules(once).join("\n"));
      await teardownIPMasq(env.nodeExec, t);
      assert.doesNotMatch((await natSave(env)) + (await natSave(env, 6)), /CNI-/);
      await teardownIPMasq(env.nodeExec, t); // nothing left: still fine
    }));

  it("masquerade: the fast transaction and the fallback both leave exactly Go's rules, and both remove Go's", (t) =>
    withEnv(2, async (env) => {
      if (!existsSync(GO_BRIDGE)) {
        t.skip(`no Go bridge plugin at ${GO_BRIDGE}`);
        return;
      }
      const name = "podnet-t-mqgo";
      /** Go's bridge ADD in the node netns; the pod's IPv4 address. */
      const goAdd = async (pod: TempNetns, containerID: string): Promise<string> => {
        const c = {
          cniVersion: "1.0.0",
          name,
          type: "bridge",
          bridge: "pt-brgo",
          isGateway: true,
          ipMasq: true,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.200.42.0/24" }]], dataDir: env.dataDir },
        };
        const cniEnv: Record<string, string | undefined> = {
          ...process.env,
          CNI_COMMAND: "ADD",
          CNI_CONTAINERID: containerID,
          CNI_NETNS: pod.path,
          CNI_IFNAME: "eth0",
          CNI_PATH: "/usr/lib/cni",
        };
        delete cniEnv["NODE_EXTRA_CA_CERTS"];
        const out = await env.nodeExec.run([GO_BRIDGE], { stdin: JSON.stringify(c), env: cniEnv });
        return (JSON.parse(out) as Result).ips![0]!.address;
      };
      const rules = async () =>
        (await natSave(env))
          .split("\n")
          .filter((l) => /^(-A|:CNI-)/.test(l) && l.includes("CNI-"))
          .map((l) => l.replace(/ \[\d+:\d+\]$/, ""))
          .sort();

      const addr = await goAdd(env.pods[0]!, "ctr-go");
      const target = { network: name, ifName: "eth0", containerID: "ctr-go" };
      const go = await rules();
      assert.equal(go.length, 4, go.join("\n")); // the chain, its two rules, the POSTROUTING jump
      // Go's rules go with the fast transaction (it knows the address) …
      await teardownIPMasqFamily(env.nodeExec, 4, target, [addr]);
      assert.deepEqual(await rules(), []);
      // … ours are Go's, byte for byte, by either path, and either path removes them.
      for (const fast of [true, false]) {
        await setupIPMasqFamily(env.nodeExec, 4, [addr], target, { fast });
        assert.deepEqual(await rules(), go, `setup, fast=${fast}`);
        await teardownIPMasqFamily(env.nodeExec, 4, target, [addr], { fast: !fast });
        assert.deepEqual(await rules(), [], `teardown, fast=${!fast}`);
      }
      // Without the addresses (netns gone, no cached result) the listing finds Go's jump.
      const addr2 = await goAdd(env.pods[1]!, "ctr-go2");
      assert.equal((await rules()).length, 4);
      await teardownIPMasq(env.nodeExec, { ...target, containerID: "ctr-go2" }, [4]);
      assert.deepEqual(await rules(), []);
      // A fast teardown whose jump is not there (another address) falls back and still removes it all.
      await setupIPMasqFamily(env.nodeExec, 4, [addr2], target);
      await teardownIPMasqFamily(env.nodeExec, 4, target, ["10.200.42.250/24"]);
      assert.deepEqual(await rules(), []);
    }));
});
