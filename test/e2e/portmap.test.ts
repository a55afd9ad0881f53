// portmap, built, driven by podnet's runtime exactly as a container runtime does: the seeds'
// conflists (calico replaced by a bridge) in sandbox namespaces. A pod's hostPort must answer
// from the node (its address, and 127.0.0.1), from another pod and from the pod itself, over TCP
// and UDP, IPv4 and IPv6; DEL must leave the ruleset exactly as it found it; podnet and the Go
// plugin must clean up after each other.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { parseConfList, type JsonObject, type Result } from "../../src/cni/index.js";
import { CniRuntime, type RuntimeConf } from "../../src/libcni/index.js";
import { GO_PLUGINS, PODNET_PLUGINS, haveRoot, inNs, sh, withSandbox, type Sandbox } from "./sandbox.js";

const skip = !haveRoot()
  ? "needs root"
  : !existsSync(join(PODNET_PLUGINS, "portmap"))
    ? "build/cni/portmap not built"
    : false;
const podnetBridge = existsSync(join(PODNET_PLUGINS, "bridge"));

const NODE_IP4 = "10.200.100.1";
const NODE_IP6 = "fd00:200:100::1";

// ---- traffic: a TCP+UDP echo server in a pod, a client that probes many targets at once --------

const SERVER = `
const net = require("net"), dgram = require("dgram");
const [port, name] = process.argv.slice(1);
let up = 0; const ready = () => { if (++up === 3) process.stdout.write("ready\\n"); };
net.createServer((s) => { s.end(name + " " + s.remoteAddress.replace(/^::ffff:/, "") + "\\n"); s.on("error", () => {}); })
  .listen({ port: +port, host: "::", ipv6Only: false }, ready);
for (const [type, host] of [["udp4", "0.0.0.0"], ["udp6", "::"]]) {
  const u = dgram.createSocket(type === "udp6" ? { type, ipv6Only: true } : { type });
  u.on("message", (m, r) => u.send(name + " " + r.address, r.port, r.address));
  u.bind(+port, host, ready);
}
setTimeout(() => process.exit(0), 60000);
`;

const CLIENT = `
const net = require("net"), dgram = require("dgram");
const probes = JSON.parse(process.argv[1]);
const one = (p) => new Promise((resolve) => {
  const done = (v) => { clearTimeout(t); resolve(v); };
  const t = setTimeout(() => resolve("timeout"), 2000);
  if (p.proto === "tcp") {
    const s = net.connect({ host: p.host, port: p.port }); let b = "";
    s.on("data", (d) => (b += d)); s.on("end", () => done(b.trim())); s.on("error", (e) => done("error " + e.code));
  } else {
    const u = dgram.createSocket(p.host.includes(":") ? "udp6" : "udp4");
    u.on("message", (m) => { u.close(); done(String(m)); }); u.on("error", (e) => done("error " + e.code));
    const send = () => u.send("ping", p.port, p.host); send(); setTimeout(send, 500); setTimeout(send, 1000);
  }
});
Promise.all(probes.map(one)).then((r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); });
`;

interface Probe {
  readonly proto: "tcp" | "udp";
  readonly host: string;
  readonly port: number;
}

/** Starts the echo server in `ns`; resolves once it listens. The caller kills it. */
function startServer(ns: string, port: number, name: string): Promise<ChildProcess> {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER, String(port), name], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise<ChildProcess>((resolve, reject) => {
    let err = "";
    const t = setTimeout(() => reject(new Error(`echo server in ${ns} did not start: ${err}`)), 10_000);
    child.stderr!.on("data", (d: Buffer) => (err += d));
    child.stdout!.on("data", (d: Buffer) => {
      if (String(d).includes("ready")) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.once("exit", (c) => reject(new Error(`echo server exited ${c}: ${err}`)));
  }).catch((e: unknown) => {
    child.kill();
    throw e;
  });
}

function probe(ns: string, probes: readonly Probe[]): string[] {
  const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, "-e", CLIENT, JSON.stringify(probes)], {
    encoding: "utf8",
    timeout: 15_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

// ---- the node ---------------------------------------------------------------------------------

/** A node netns with an address of its own (on lo: this kernel has no dummy links), forwarding on, no DAD. */
function prepareNode(sb: Sandbox): void {
  sh("ip", [
    "netns",
    "exec",
    sb.node,
    "sysctl",
    "-qw",
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.forwarding=1",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv6.conf.all.accept_dad=0",
  ]);
  sh("ip", ["-n", sb.node, "addr", "add", `${NODE_IP4}/32`, "dev", "lo"]);
  sh("ip", ["-n", sb.node, "addr", "add", `${NODE_IP6}/128`, "dev", "lo"]);
}

function podNs(sb: Sandbox, name: string): string {
  const ns = sb.netns(name);
  sh("ip", [
    "netns",
    "exec",
    ns,
    "sysctl",
    "-qw",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv6.conf.all.accept_dad=0",
  ]);
  return ns;
}

/** A CNI_PATH directory: podnet's portmap (and bandwidth), the chosen bridge, Go's host-local. */
function binDir(sb: Sandbox, o: { bridge: "go" | "podnet"; portmap?: "go" | "podnet" }): string {
  const dir = join(sb.dir, `bin-${o.bridge}-${o.portmap ?? "podnet"}`);
  mkdirSync(dir, { recursive: true });
  const link = (name: string, from: string) => symlinkSync(join(from, name), join(dir, name));
  link("bridge", o.bridge === "podnet" ? PODNET_PLUGINS : GO_PLUGINS);
  link("host-local", GO_PLUGINS);
  link("portmap", (o.portmap ?? "podnet") === "podnet" ? PODNET_PLUGINS : GO_PLUGINS);
  if (existsSync(join(PODNET_PLUGINS, "bandwidth"))) link("bandwidth", PODNET_PLUGINS);
  return dir;
}

/** The seed's hostPort conflist (cniVersion 0.4.0), `calico` replaced by a dual-stack bridge. */
function seedPortmapConflist(sb: Sandbox, portmap: JsonObject, name = "k8s-pod-network", version = "0.4.0") {
  return {
    name,
    cniVersion: version,
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "10.200.1.0/24" }], [{ subnet: "fd00:200:1::/64" }]],
          routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
          dataDir: join(sb.dir, "ipam"),
        },
      },
      { type: "portmap", capabilities: { portMappings: true }, dataDir: join(sb.dir, "portmap"), ...portmap },
    ],
  };
}

const nftRuleset = (sb: Sandbox) => inNs(sb.node, ["nft", "list", "ruleset"]).out;
const addrOf = (r: Result, fam: 4 | 6) =>
  (r.ips ?? []).map((i) => i.address.split("/")[0]!).find((a) => (fam === 6) === a.includes(":"))!;

function rtConf(sb: Sandbox, ns: string, id: string, mappings: unknown[], ifName = "eth0"): RuntimeConf {
  return {
    containerID: id,
    netns: sb.path(ns),
    ifName,
    args: [
      ["IgnoreUnknown", "1"],
      ["K8S_POD_NAMESPACE", "default"],
      ["K8S_POD_NAME", id],
    ],
    capabilityArgs: { portMappings: mappings },
  };
}

/** Every way to reach the hostPort of `pod`: from the node, another pod and itself, TCP and UDP, v4 and v6. */
async function assertHostPortAnswers(
  sb: Sandbox,
  target: { ns: string; name: string },
  other: string,
  hostPort: number,
): Promise<void> {
  const both = (host: string): Probe[] => [
    { proto: "tcp", host, port: hostPort },
    { proto: "udp", host, port: hostPort },
  ];
  const fromNode = probe(sb.node, [...both(NODE_IP4), ...both("127.0.0.1"), ...both(NODE_IP6)]);
  const fromOther = probe(other, [...both(NODE_IP4), ...both(NODE_IP6)]);
  const fromSelf = probe(target.ns, [...both(NODE_IP4), ...both(NODE_IP6)]);
  const labels = ["tcp4", "udp4", "tcp4 127.0.0.1", "udp4 127.0.0.1", "tcp6", "udp6"];
  for (const [who, got, l] of [
    ["node", fromNode, labels],
    ["other pod", fromOther, ["tcp4", "udp4", "tcp6", "udp6"]],
    ["itself", fromSelf, ["tcp4", "udp4", "tcp6", "udp6"]],
  ] as const) {
    for (const [i, answer] of got.entries())
      assert.match(answer, new RegExp(`^${target.name} `), `${who} → hostPort ${hostPort} (${l[i]}): ${answer}`);
  }
}

describe("portmap (podnet, nftables maps) in a chain", { skip }, () => {
  for (const bridge of podnetBridge ? (["go", "podnet"] as const) : (["go"] as const)) {
    it(`[${bridge} bridge] hostPort answers from the node, another pod and itself (TCP/UDP, v4/v6); CHECK; DEL restores the ruleset`, () =>
      withSandbox(async (sb) => {
        prepareNode(sb);
        const list = parseConfList(JSON.stringify(seedPortmapConflist(sb, {})));
        const rtm = new CniRuntime({
          path: [binDir(sb, { bridge })],
          cacheDir: join(sb.dir, "cache"),
          exec: sb.nodeExec(),
        });
        const p1 = podNs(sb, "p1");
        const p2 = podNs(sb, "p2");
        const before = nftRuleset(sb);
        // containerd's capability keys: Go field names (case-insensitive matching).
        const rt1 = rtConf(sb, p1, `c1-${sb.id}`, [
          { HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "" },
          { HostPort: 8080, ContainerPort: 80, Protocol: "udp", HostIP: "" },
          { HostPort: 9090, ContainerPort: 80, Protocol: "tcp", HostIP: NODE_IP6 },
        ]);
        const rt2 = rtConf(sb, p2, `c2-${sb.id}`, []);
        const r2 = (await rtm.addNetworkList(list, rt2)) as Result;
        const withP2 = nftRuleset(sb);
        const r1 = (await rtm.addNetworkList(list, rt1)) as Result;
        assert.ok(addrOf(r1, 4) && addrOf(r1, 6) && addrOf(r2, 4));
        const ruleset = nftRuleset(sb);
        assert.match(ruleset, /table inet podnet_portmap/);
        assert.match(ruleset, /tcp \. 8080 : jump hp_[0-9a-f]{24}/);
        const server = await startServer(p1, 80, "p1");
        try {
          await assertHostPortAnswers(sb, { ns: p1, name: "p1" }, p2, 8080);
          // A host IP: that address only.
          const [on, off] = probe(p2, [
            { proto: "tcp", host: NODE_IP6, port: 9090 },
            { proto: "tcp", host: NODE_IP4, port: 9090 },
          ]);
          assert.match(on!, /^p1 /);
          assert.doesNotMatch(off!, /^p1 /);
        } finally {
          server.kill();
        }
        await rtm.checkNetworkList(list, rt1);
        await rtm.delNetworkList(list, rt1);
        assert.equal(nftRuleset(sb), withP2, "DEL of the hostPort pod restores the ruleset");
        await rtm.delNetworkList(list, rt1); // idempotent
        await rtm.delNetworkList(list, rt2);
        if (bridge === "podnet") assert.equal(nftRuleset(sb), before);
        assert.deepEqual(readdirSync(join(sb.dir, "cache", "results")), []);
      }));
  }
});

/** What kube-proxy would have made: KUBE-MARK-MASQ sets 0x4000, KUBE-POSTROUTING masquerades it. */
function kubeProxyChains(sb: Sandbox): void {
  for (const t of ["iptables-restore", "ip6tables-restore"]) {
    const r = spawnSync("ip", ["netns", "exec", sb.node, t, "--noflush"], {
      input: [
        "*nat",
        ":KUBE-MARK-MASQ - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE",
        "-A POSTROUTING -j KUBE-POSTROUTING",
        "COMMIT",
        "",
      ].join("\n"),
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
  }
}

/** The nat rules of one chain as iptables-save prints them (IPv4 and IPv6). */
function chainRules(sb: Sandbox, chain: string): string[] {
  const out: string[] = [];
  for (const t of ["iptables-save", "ip6tables-save"]) {
    for (const l of inNs(sb.node, [t, "-t", "nat"]).out.split("\n"))
      if (l.startsWith(`-A ${chain} `) || (l.startsWith("-A ") && l.endsWith(`-j ${chain}`))) out.push(`${t}: ${l}`);
  }
  return out;
}

describe("portmap iptables backend (the seed's KUBE-MARK-MASQ conflist) next to the Go plugin", { skip }, () => {
  for (const bridge of podnetBridge ? (["go", "podnet"] as const) : (["go"] as const)) {
    it(`[${bridge} bridge] makes byte-identical rules to Go's, answers on every path, and each plugin removes the other's rules`, () =>
      withSandbox(async (sb) => {
        prepareNode(sb);
        kubeProxyChains(sb);
        const conf = seedPortmapConflist(sb, { externalSetMarkChain: "KUBE-MARK-MASQ" });
        const list = parseConfList(JSON.stringify(conf));
        const cache = join(sb.dir, "cache");
        const podnet = new CniRuntime({ path: [binDir(sb, { bridge })], cacheDir: cache, exec: sb.nodeExec() });
        const goRt = new CniRuntime({
          path: [binDir(sb, { bridge, portmap: "go" })],
          cacheDir: cache,
          exec: sb.nodeExec(),
        });
        const p1 = podNs(sb, "p1");
        const p2 = podNs(sb, "p2");
        const mappings = [
          { hostPort: 8080, containerPort: 80, protocol: "tcp" },
          { hostPort: 8080, containerPort: 80, protocol: "udp" },
          { hostPort: 9090, containerPort: 80, protocol: "tcp", hostIP: NODE_IP4 },
        ];
        const rt1 = rtConf(sb, p1, `c1-${sb.id}`, mappings);
        const rt2 = rtConf(sb, p2, `c2-${sb.id}`, [{ hostPort: 8081, containerPort: 80, protocol: "tcp" }]);
        const { dnatChainName } = await import("../../src/plugins/meta/portmap/iptables.js");
        const chain1 = dnatChainName(list.name, rt1.containerID);

        // The same pod through Go's portmap, then through podnet's: the same rules, byte for byte.
        await goRt.addNetworkList(list, rt1);
        // (host-local hands out the next address on the second ADD: compare without it)
        const norm = (rules: string[]) =>
          rules
            .map((r) => r.replace(/10\.200\.1\.\d+:/, "POD4:").replace(/\[fd00:200:1::[0-9a-f]+\]/, "[POD6]"))
            .sort();
        const goRules = norm(chainRules(sb, chain1));
        assert.ok(goRules.length >= 8, goRules.join("\n"));
        await goRt.delNetworkList(list, rt1);
        assert.deepEqual(chainRules(sb, chain1), []);
        await podnet.addNetworkList(list, rt1);
        assert.deepEqual(norm(chainRules(sb, chain1)), goRules);
        assert.doesNotMatch(nftRuleset(sb), /podnet_portmap/, "the iptables backend was chosen");

        // Pod 2 through Go's portmap; pod 1's hostPort answers everywhere.
        await goRt.addNetworkList(list, rt2);
        const server = await startServer(p1, 80, "p1");
        try {
          await assertHostPortAnswers(sb, { ns: p1, name: "p1" }, p2, 8080);
          assert.match(probe(p2, [{ proto: "tcp", host: NODE_IP4, port: 9090 }])[0]!, /^p1 /);
        } finally {
          server.kill();
        }
        // CHECK passes (Go 1.1.1's own CHECK fails here, on its own rules too: it looks for the IPv4
        // rules in ip6tables, plugins#819).
        await podnet.checkNetworkList(list, rt1);
        // A host port that Go's pod holds is refused, and nothing changes.
        const natBefore = inNs(sb.node, ["iptables-save", "-t", "nat"]).out.replace(/^#.*$/gm, "");
        const p3 = podNs(sb, "p3");
        await assert.rejects(
          podnet.addNetworkList(
            list,
            rtConf(sb, p3, `c3-${sb.id}`, [{ hostPort: 8081, containerPort: 80, protocol: "tcp" }]),
          ),
          /host port 8081\/tcp \(IPv4\) is already forwarded by iptables chain CNI-DN-/,
        );
        assert.equal(inNs(sb.node, ["iptables-save", "-t", "nat"]).out.replace(/^#.*$/gm, ""), natBefore);
        // Each removes the other's: Go DELs podnet's pod 1, podnet DELs Go's pod 2 (no state file).
        await goRt.delNetworkList(list, rt1);
        assert.deepEqual(chainRules(sb, chain1), []);
        await podnet.delNetworkList(list, rt2);
        assert.deepEqual(chainRules(sb, dnatChainName(list.name, rt2.containerID)), []);
        await podnet.delNetworkList(list, rt1);
        assert.doesNotMatch(inNs(sb.node, ["iptables-save", "-t", "nat"]).out, /CNI-DN-/);
      }));
  }
});

describe("portmap (podnet) ownership: conflicts, two attachments, DEL from the identity alone", { skip }, () => {
  it("refuses a host port another pod holds (naming it) and changes nothing", () =>
    withSandbox(async (sb) => {
      prepareNode(sb);
      const list = parseConfList(JSON.stringify(seedPortmapConflist(sb, {})));
      const rtm = new CniRuntime({
        path: [binDir(sb, { bridge: "go" })],
        cacheDir: join(sb.dir, "cache"),
        exec: sb.nodeExec(),
      });
      const p1 = podNs(sb, "p1");
      const p2 = podNs(sb, "p2");
      const rt1 = rtConf(sb, p1, `c1-${sb.id}`, [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }]);
      await rtm.addNetworkList(list, rt1);
      const before = nftRuleset(sb);
      const rt2 = rtConf(sb, p2, `c2-${sb.id}`, [
        { hostPort: 8081, containerPort: 80, protocol: "tcp" },
        { hostPort: 8080, containerPort: 81, protocol: "TCP" },
      ]);
      await assert.rejects(rtm.addNetworkList(list, rt2), (e: Error) => {
        assert.match(
          e.message,
          new RegExp(
            `host port 8080/tcp \\(IPv4\\) is already mapped by container c1-${sb.id} \\(eth0, network "k8s-pod-network"\\); nothing was changed`,
          ),
        );
        return true;
      });
      assert.equal(nftRuleset(sb), before, "the failed ADD left the ruleset as it was");
      // The runtime then DELs the failed attachment (with its mappings, no state): p1 keeps 8080.
      await rtm.delNetworkList(list, rt2);
      assert.equal(nftRuleset(sb), before);
      // Bad input is refused before anything happens, with the field and the value.
      for (const [m, re] of [
        [
          { hostPort: 70000, containerPort: 80, protocol: "tcp" },
          /"runtimeConfig\.portMappings\.0\.hostPort" must be 1\.\.65535, got 70000/,
        ],
        [
          { hostPort: 80, containerPort: 80, protocol: "icmp" },
          /"runtimeConfig\.portMappings\.0\.protocol" must be \("tcp" \| "udp" \| "sctp"\), got "icmp"/,
        ],
      ] as const) {
        const rt = rtConf(sb, p2, `c3-${sb.id}`, [m]);
        await assert.rejects(rtm.addNetworkList(list, rt), re);
        await assert.rejects(rtm.delNetworkList(list, rt), re, "DEL parses the config too, as Go does");
        await rtm.delNetworkList(list, { ...rt, capabilityArgs: {} });
      }
      assert.equal(nftRuleset(sb), before);
      await rtm.delNetworkList(list, rt1);
    }));

  it("two attachments of one container keep each other's ports; DEL without mappings, cache or netns removes them", () =>
    withSandbox(async (sb) => {
      prepareNode(sb);
      const a = seedPortmapConflist(sb, {}, "net-a");
      const b = seedPortmapConflist(sb, {}, "net-b");
      b.plugins[0] = {
        ...b.plugins[0]!,
        bridge: "cni1",
        ipam: {
          ...(b.plugins[0] as { ipam: JsonObject }).ipam,
          ranges: [[{ subnet: "10.200.2.0/24" }], [{ subnet: "fd00:200:2::/64" }]],
        },
      } as (typeof b.plugins)[0];
      const la = parseConfList(JSON.stringify(a));
      const lb = parseConfList(JSON.stringify(b));
      const rtm = new CniRuntime({
        path: [binDir(sb, { bridge: "go" })],
        cacheDir: join(sb.dir, "cache"),
        exec: sb.nodeExec(),
      });
      const pod = podNs(sb, "pod");
      const client = podNs(sb, "client");
      const before = nftRuleset(sb);
      const id = `c1-${sb.id}`;
      const ra = rtConf(sb, pod, id, [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], "eth0");
      const rb = rtConf(sb, pod, id, [{ hostPort: 8090, containerPort: 80, protocol: "tcp" }], "net1");
      await rtm.addNetworkList(la, ra);
      await rtm.addNetworkList(lb, rb);
      await rtm.addNetworkList(la, rtConf(sb, client, `c2-${sb.id}`, []));
      const server = await startServer(pod, 80, "pod");
      try {
        const both = () =>
          probe(client, [
            { proto: "tcp", host: NODE_IP4, port: 8080 },
            { proto: "tcp", host: NODE_IP4, port: 8090 },
          ]);
        assert.deepEqual(
          both().map((x) => x.split(" ")[0]),
          ["pod", "pod"],
        );
        // DEL of net1 as a runtime that lost everything sends it: no capability args, no cached
        // result, and the netns already gone for that attachment's view (a path that does not exist).
        rtm.cache.delete(lb.name, id, "net1");
        await rtm.delNetworkList(lb, { containerID: id, netns: "/run/netns/podnet-t-gone", ifName: "net1" });
        const after = both();
        assert.match(after[0]!, /^pod /, "eth0's port survives net1's DEL");
        assert.doesNotMatch(after[1]!, /^pod /, "net1's port is gone");
        assert.doesNotMatch(nftRuleset(sb), /8090/);
      } finally {
        server.kill();
      }
      await rtm.delNetworkList(la, { containerID: id, netns: "/run/netns/podnet-t-gone", ifName: "eth0" });
      await rtm.delNetworkList(la, rtConf(sb, client, `c2-${sb.id}`, []));
      assert.equal(nftRuleset(sb), before, "nothing of podnet left");
      assert.equal(
        existsSync(join(sb.dir, "portmap", "net-a")),
        false,
        "the network's state directory went with its last attachment",
      );
    }));
});
