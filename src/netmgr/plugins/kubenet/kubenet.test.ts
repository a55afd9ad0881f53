import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createFakeKernel } from "../../../kernel/fake.js";
import { createFakeIPTables } from "../../../kernel/iptables-fake.js";
import { createFakeExec } from "../../../kernel/testing.js";
import { createFakeInvoker, createFakeOpener } from "../../testing/fakes.js";
import { createKubenetPlugin, type KubenetDeps, type KubenetFs } from "./kubenet.js";
import { masqRuleArgs } from "./config.js";
import { createFakeTcNetlink } from "../../../kernel/tc-netlink-fake.js";
import { asTcFilter, createShaper } from "./shaper.js";
import type { Host, PortMapping } from "../../core/plugin.js";
import { memoryLogger } from "../../core/log.js";
import { CniCode, CniError } from "../../../cni/index.js";

const NS = "/run/netns/pod1";

/** cbr0's u32 filters as `tc filter show` would print them: protocol, prio, matches, flowid. */
const filters = (t: { tc: ReturnType<typeof createFakeTcNetlink> }) =>
  t.tc
    .u32Filters("cbr0", 0x10000)
    .map(asTcFilter)
    .map((f) => [f.protocol, f.prio, f.matches.map((m) => `${m.key}@${m.at}`).join(" "), f.flowid]);

function setup(
  opts: {
    dirs?: Record<string, string[]>;
    files?: Record<string, string>;
    portMappings?: PortMapping[];
    hairpin?: "promiscuous-bridge" | "hairpin-veth" | "none";
    extra?: Partial<KubenetDeps>;
  } = {},
) {
  const kernel = createFakeKernel({ netns: [NS] });
  kernel.state(null).sysctls.set("net/ipv6/conf/default/dad_transmits", "1");
  const exec = createFakeExec([["ebtables -t filter -L", ""]]);
  const tc = createFakeTcNetlink(["cbr0"]);
  const ipt = createFakeIPTables();
  const ipt6 = createFakeIPTables(true);
  const invoker = createFakeInvoker();
  const paths: string[][] = [];
  const opener = createFakeOpener();
  const dirs = opts.dirs ?? {
    "/podnet/build/cni": ["host-local", "sample"],
    "/usr/lib/cni": ["bridge", "host-local", "loopback", "portmap"],
  };
  const files = opts.files ?? {};
  const fs: KubenetFs = {
    list(d) {
      if (d in dirs) return dirs[d]!;
      const f = Object.keys(files)
        .filter((p) => p.startsWith(`${d}/`))
        .map((p) => p.slice(d.length + 1));
      if (f.length) return f;
      throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    },
    readFile(p) {
      if (p in files) return files[p]!;
      throw new Error("ENOENT");
    },
  };
  const log = memoryLogger();
  const plugin = createKubenetPlugin({
    binDirs: Object.keys(dirs),
    invokerFor: (p) => {
      paths.push([...p]);
      return invoker;
    },
    kernel,
    exec,
    iptables: ipt,
    iptables6: ipt6,
    openPort: opener.open,
    fs,
    ipamDataDir: "/ipam",
    log,
    modprobe: false,
    shaper: createShaper(tc, "cbr0"),
    ...opts.extra,
  });
  const pms = opts.portMappings ?? [];
  const netns = new Map<string, string>([["sb1", NS]]);
  const host: Host = {
    getNetNS: async (id) => {
      const n = netns.get(id);
      if (!n) throw new Error(`cannot find network namespace for the terminated container "${id}"`);
      return n;
    },
    getPodPortMappings: async () => pms,
  };
  return {
    kernel,
    exec,
    tc,
    ipt,
    ipt6,
    invoker,
    paths,
    opener,
    plugin,
    host,
    log,
    netns,
    hairpin: opts.hairpin ?? "promiscuous-bridge",
  };
}

describe("kubenet over fakes", () => {
  it("init: MTU from the interfaces, bridge-nf-call-iptables, the masquerade rule; not ready without a pod CIDR", async () => {
    const t = setup();
    await t.kernel.netns(null).linkAddVeth("eth0", "eth0p", { mtu: 1400, up: true });
    await t.plugin.init(t.host, "promiscuous-bridge", "10.0.0.0/8", 0);
    assert.deepEqual(t.plugin.mtu(), { mtu: 1400, source: "interface", from: "eth0" });
    assert.equal(t.kernel.state(null).sysctls.get("net/bridge/bridge-nf-call-iptables"), "1");
    assert.deepEqual(t.ipt.rules("nat"), [
      '-A PREROUTING -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS',
      '-A OUTPUT -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS',
      '-A POSTROUTING -m comment --comment "kubenet: SNAT for outbound traffic from cluster" -m addrtype ! --dst-type LOCAL ! -d 10.0.0.0/8 -j MASQUERADE',
      // podnet: the hostport chain and its jumps at init, so that a hostPort pod is one iptables-restore
      '-A POSTROUTING -m comment --comment "SNAT for localhost access to hostports" -o cbr0 -s 127.0.0.0/8 -j MASQUERADE',
    ]);
    assert.match(
      String(t.plugin.status()),
      /kubenet does not have netConfig. This is most likely due to lack of PodCIDR/,
    );
    await assert.rejects(
      t.plugin.setUpPod("default", "web", "sb1", {}, {}),
      /kubenet cannot SetUpPod: kubenet does not have netConfig/,
    );
    await assert.rejects(t.plugin.tearDownPod("default", "web", "sb1"), /kubenet needs a PodCIDR to tear down pods/);
  });

  it("the pod CIDR event makes it ready; later CIDRs and bad values are ignored", async () => {
    const t = setup();
    await t.plugin.init(t.host, "hairpin-veth", "10.0.0.0/8", 1450);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "not-a-cidr" });
    assert.notEqual(t.plugin.status(), null);
    t.plugin.event("pod-cidr-change", { "pod-cidr": 42 });
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.1/24" });
    assert.equal(t.plugin.status(), null);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.201.0.0/24" });
    const c = JSON.parse(t.plugin.netConfig()!);
    assert.deepEqual(c.ipam.ranges, [[{ subnet: "10.200.0.0/24" }]]);
    assert.equal(c.mtu, 1450);
    assert.equal(c.hairpinMode, true);
    assert.equal(c.ipam.dataDir, "/ipam");
    assert.ok(t.log.lines.some((l) => /Ignoring subsequent pod CIDR update to 10.201.0.0\/24/.test(l.msg)));
  });

  it("binaries: the first directory holding bridge, host-local and loopback is searched first", async () => {
    const t = setup();
    await t.plugin.init(t.host, "none", "0.0.0.0/0", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    assert.equal(t.plugin.pluginDir(), "/usr/lib/cni");
    await t.plugin.setUpPod("default", "web", "sb1", {}, {});
    assert.deepEqual(t.paths[0], ["/usr/lib/cni", "/podnet/build/cni"]);
    assert.deepEqual(
      t.ipt.rules("nat").filter((r) => r.includes("MASQUERADE") && !r.includes("hostports")),
      [],
      "0.0.0.0/0 disables the masquerade rule",
    );
    const u = setup({ dirs: { "/a": ["bridge"], "/b": ["loopback", "host-local"] } });
    await u.plugin.init(u.host, "none", "10.0.0.0/8", 0);
    u.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    assert.equal(
      String(u.plugin.status()),
      'Error: could not locate kubenet required CNI plugins [bridge host-local loopback] at ["/a" "/b"]',
    );
  });

  it("setUp: DAD off in the pod, bridge and loopback, promiscuous cbr0 + dedup, shaping, hostports; status from the cache", async () => {
    const t = setup({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "TCP", hostIP: "" }] });
    await t.ipt.ensureChain("nat", "KUBE-MARK-MASQ");
    await t.plugin.init(t.host, "promiscuous-bridge", "10.0.0.0/8", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    await t.kernel.netns(null).linkAddBridge("cbr0", { mac: "0a:58:0a:c8:00:01", up: true });
    await t.plugin.setUpPod("default", "web", "sb1", { "kubernetes.io/ingress-bandwidth": "10M" }, {});
    assert.equal(t.kernel.state(NS).sysctls.get("net/ipv6/conf/default/dad_transmits"), "0");
    assert.deepEqual(
      t.invoker.calls.map((c) => `${c.op} ${c.network} ${c.rt?.ifName}`),
      ["ADD kubenet eth0", "ADD kubenet-loopback lo"],
      "both at once, the bridge's first",
    );
    assert.deepEqual(t.invoker.calls[1]!.rt?.args, undefined, "kubenet sends no CNI_ARGS");
    assert.equal((await t.kernel.netns(null).linkGet("cbr0"))?.promisc, true);
    assert.ok(
      t.exec
        .lines()
        .includes(
          "ebtables -t filter -I KUBE-DEDUP -p IPv4 -s 0a:58:0a:c8:00:01 -o veth+ --ip-src 10.200.0.1 -j ACCEPT",
        ),
    );
    assert.ok(
      t.exec
        .lines()
        .includes(
          "ebtables -t filter -A KUBE-DEDUP -p IPv4 -s 0a:58:0a:c8:00:01 -o veth+ --ip-src 10.200.0.0/24 -j DROP",
        ),
    );
    assert.deepEqual(filters(t), [["ip", 1, "0ac80002/ffffffff@16", "1:1"]], "match ip dst 10.200.0.2/32 flowid 1:1");
    assert.deepEqual([...t.opener.held], ["4/tcp//8080"]);
    assert.ok(t.ipt.rules("nat").some((r) => r.includes("--to-destination=10.200.0.2:80")));
    assert.deepEqual(await t.plugin.getPodNetworkStatus("default", "web", "sb1"), {
      ip: "10.200.0.2",
      ips: ["10.200.0.2"],
    });

    // teardown: DELs, hostports gone, shaper reset, ports released
    await t.plugin.tearDownPod("default", "web", "sb1");
    assert.deepEqual(
      t.invoker.calls.slice(2).map((c) => `${c.op} ${c.network} ${c.rt?.ifName}`),
      ["DEL kubenet eth0", "DEL kubenet-loopback lo"],
    );
    assert.deepEqual([filters(t), t.tc.classes("cbr0")], [[], []], "the filter and its class deleted");
    assert.equal(t.ipt.rules("nat").filter((r) => r.includes("KUBE-HP-")).length, 0);
    assert.deepEqual([...t.opener.held], []);
    await t.plugin.tearDownPod("default", "web", "sb1"); // again: fine
  });

  it("a bad bandwidth annotation fails before anything is created", async () => {
    const t = setup();
    await t.plugin.init(t.host, "none", "10.0.0.0/8", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    await assert.rejects(
      t.plugin.setUpPod("default", "web", "sb1", { "kubernetes.io/egress-bandwidth": "10Q" }, {}),
      /^Error: error reading pod bandwidth annotations: metadata.annotations\["kubernetes.io\/egress-bandwidth"\]: "10Q": quantities must match/,
    );
    assert.deepEqual(t.invoker.calls, []);
  });

  it("a failing setup is torn down (hostport conflict)", async () => {
    const t = setup({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "TCP", hostIP: "" }] });
    await t.ipt.ensureChain("nat", "KUBE-MARK-MASQ");
    t.opener.taken.add(8080);
    await t.plugin.init(t.host, "none", "10.0.0.0/8", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    await assert.rejects(
      t.plugin.setUpPod("default", "web", "sb1", {}, {}),
      /cannot open hostport 8080 for pod web_default: listen tcp4 :8080: bind: address already in use/,
    );
    assert.deepEqual(
      t.invoker.calls.map((c) => `${c.op} ${c.network}`),
      ["ADD kubenet", "ADD kubenet-loopback", "DEL kubenet", "DEL kubenet-loopback"],
    );
    assert.equal(t.invoker.cache.size, 0);
  });

  it("dual stack: IPv4 first, IPv6 shaped with ip6 filters; 'no such file' DEL errors are ignored", async () => {
    const t = setup();
    t.invoker.result = () => ({
      cniVersion: "1.0.0",
      ips: [{ address: "fd00:200::2/64" }, { address: "10.200.0.2/24" }],
    });
    await t.plugin.init(t.host, "none", "10.0.0.0/8", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24,fd00:200::/64" });
    await t.plugin.setUpPod("default", "web", "sb1", { "kubernetes.io/ingress-bandwidth": "1M" }, {});
    assert.deepEqual(await t.plugin.getPodNetworkStatus("default", "web", "sb1"), {
      ip: "10.200.0.2",
      ips: ["10.200.0.2", "fd00:200::2"],
    });
    assert.deepEqual(
      filters(t).find((f) => f[0] === "ipv6"),
      ["ipv6", 2, "fd000200/ffffffff@24 00000000/ffffffff@28 00000000/ffffffff@32 00000002/ffffffff@36", "1:2"],
      "match ip6 dst fd00:200::2/128",
    );
    t.invoker.fail.set("DEL kubenet", new CniError(CniCode.Internal, "failed to Statfs: no such file or directory"));
    await t.plugin.tearDownPod("default", "web", "sb1");
  });

  it("status after a restart comes from the netns; gc releases leases, chains and limits of unknown pods", async () => {
    const t = setup({
      files: {
        "/ipam/kubenet/10.200.0.7": "deadbeef\r\neth0",
        "/ipam/kubenet/10.200.0.2": "sb1\r\neth0",
        "/ipam/kubenet/lock": "",
      },
    });
    await t.ipt.ensureChain("nat", "KUBE-MARK-MASQ");
    await t.plugin.init(t.host, "none", "10.0.0.0/8", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    const ops = t.kernel.netns(NS);
    await ops.linkAddDummy("eth0", { up: true });
    await ops.addrAdd("eth0", "10.200.0.2/24");
    assert.deepEqual(await t.plugin.getPodNetworkStatus("default", "web", "sb1"), {
      ip: "10.200.0.2",
      ips: ["10.200.0.2"],
    });
    await t.kernel.netns(null).linkAddBridge("cbr0", { up: true });
    const before = createShaper(t.tc, "cbr0"); // what an earlier daemon left: the limit of an address no pod has
    await before.reconcileInterface();
    await before.reconcileCIDR("10.200.0.9/32", undefined, 1_000_000);
    const released = await t.plugin.gc!(new Set(["sb1"]));
    assert.deepEqual(released, ["lease of deadbeef", "shaping of 10.200.0.9/32"]);
    assert.deepEqual(
      t.invoker.calls.map((c) => `${c.op} ${c.rt?.containerID} ${JSON.stringify(c.rt?.netns)}`),
      ['DEL deadbeef ""'],
    );
  });
});

describe("kubenet: the pod path", () => {
  const HP = [{ hostPort: 8080, containerPort: 80, protocol: "TCP" as const, hostIP: "" }];
  const annotations = { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "5M" };
  async function ready(t: ReturnType<typeof setup>, nonMasq = "10.0.0.0/8") {
    await t.ipt.ensureChain("nat", "KUBE-MARK-MASQ");
    await t.plugin.init(t.host, "none", nonMasq, 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    await t.kernel.netns(null).linkAddBridge("cbr0", { up: true });
  }
  const pod = (t: ReturnType<typeof setup>, id: string) => t.netns.set(id, NS);

  it("loopback and bridge ADD run at once; the hostport restore is started before the IP is known", async () => {
    const t = setup({ portMappings: HP });
    await ready(t);
    pod(t, "sb2");
    await t.plugin.setUpPod("default", "first", "sb1", {}, {});
    assert.deepEqual(
      t.ipt.started,
      ["committed"],
      "KUBE-HOSTPORTS was made at init: even the first pod is one early restore",
    );
    let inFlight = 0;
    let most = 0;
    const add = t.invoker.addNetworkList.bind(t.invoker);
    t.invoker.addNetworkList = async (list, rt) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(t.ipt.started.slice(-1), ["pending"], "iptables-restore is starting while the ADDs run");
      inFlight--;
      return add(list, rt);
    };
    await t.plugin.setUpPod("default", "second", "sb2", {}, {});
    assert.equal(most, 2);
    assert.deepEqual(t.ipt.started, ["committed", "committed"]);
    assert.ok(
      t.ipt
        .rules("nat")
        .some((r) => r.includes("--to-destination=10.200.0.4:80") || r.includes("--to-destination=10.200.0.3:80")),
    );
  });

  it("a failed setup ends the early restore too (no process is left waiting for input)", async () => {
    const t = setup({ portMappings: HP });
    await ready(t);
    await t.plugin.setUpPod("default", "first", "sb1", {}, {});
    await t.plugin.tearDownPod("default", "first", "sb1");
    t.invoker.fail.set("kubenet", new CniError(CniCode.Internal, "no more addresses"));
    await assert.rejects(t.plugin.setUpPod("default", "second", "sb1", {}, {}), /no more addresses/);
    assert.deepEqual(t.ipt.started, ["committed", "cancelled"]);
  });

  it("on a cluster node: pods of other nodes are exempt from masquerade in a chain of their own, the MTU rule skips the VXLAN device, the pods' MTU follows the peers", async () => {
    let vxlanPeer = false;
    const cluster = {
      cidrs: ["10.200.0.0/16", "fd00:200::/48"],
      podMtu: (m: number) => (vxlanPeer ? m - 50 : m),
      ignoreLinks: ["podnet.vxlan"],
    };
    const t = setup({ extra: { cluster } });
    const ops = t.kernel.netns(null);
    await ops.linkAddDummy("podnet.vxlan", { mtu: 1450, up: true });
    await ops.linkAddVeth("eth0", "eth0p", { mtu: 1500, up: true });
    // the kubelet's form, left by a run outside the cluster
    await t.ipt.ensureRule("append", "nat", "POSTROUTING", masqRuleArgs("10.0.0.0/8")!);
    await ready(t);
    assert.deepEqual(
      t.plugin.mtu(),
      { mtu: 1500, source: "interface", from: "eth0" },
      "podnet.vxlan's lower MTU is not the node's",
    );
    assert.deepEqual(
      t.ipt.rules("nat").filter((r) => /kubenet: SNAT|PODNET-CLUSTER-MASQ/.test(r)),
      [
        '-A POSTROUTING -m comment --comment "kubenet: SNAT for outbound traffic from cluster" -m addrtype ! --dst-type LOCAL ! -d 10.0.0.0/8 -j PODNET-CLUSTER-MASQ',
        '-A PODNET-CLUSTER-MASQ -d 10.200.0.0/16 -m comment --comment "podnet: pods of other nodes keep their addresses" -j RETURN',
        "-A PODNET-CLUSTER-MASQ -j MASQUERADE",
      ],
    );
    const mtuOf = () => (JSON.parse(t.plugin.netConfig()!) as { mtu: number }).mtu;
    await t.plugin.setUpPod("default", "a", "sb1", {}, {});
    assert.equal(mtuOf(), 1500);
    vxlanPeer = true;
    await t.plugin.setUpPod("default", "b", "sb1", {}, {});
    assert.equal(mtuOf(), 1450, "a peer reached over VXLAN: new pods get the lower MTU");
    assert.equal(t.plugin.nodeInfo!()["podMtu"], 1450);
    // an explicit --network-plugin-mtu is the pods' MTU as given
    const u = setup({ extra: { cluster } });
    await u.plugin.init(u.host, "none", "10.0.0.0/8", 1400);
    u.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    await u.plugin.setUpPod("default", "a", "sb1", {}, {});
    assert.equal((JSON.parse(u.plugin.netConfig()!) as { mtu: number }).mtu, 1400);
  });

  it("the masquerade rule is checked at init and then at most once per interval, in the background", async () => {
    let now = 0;
    const t = setup({ extra: { now: () => now, masqRecheckMs: 60_000 } });
    await ready(t);
    const masq = () => t.ipt.rules("nat").filter((r) => r.includes("kubenet: SNAT")).length;
    t.ipt.tables.get("nat")!.set("POSTROUTING", []); // flushed behind our back
    await t.plugin.setUpPod("default", "web", "sb1", {}, {});
    await t.plugin.tearDownPod("default", "web", "sb1");
    assert.equal(masq(), 0, "not per pod");
    now = 61_000;
    await t.plugin.setUpPod("default", "web", "sb1", {}, {});
    await t.plugin.close!(); // waits for the background check
    assert.equal(masq(), 1, "healed once the interval passed");
  });

  it("teardown: CNI DEL, hostport removal and shaping reset run at once", async () => {
    const t = setup({ portMappings: HP });
    await ready(t);
    await t.plugin.setUpPod("default", "web", "sb1", annotations, {});
    const order: string[] = [];
    const del = t.invoker.delNetworkList.bind(t.invoker);
    t.invoker.delNetworkList = async (list, rt) => {
      order.push(`DEL ${list.name} start`);
      await new Promise((r) => setTimeout(r, 10));
      order.push(`DEL ${list.name} end`);
      return del(list, rt);
    };
    const restore = t.ipt.restore.bind(t.ipt);
    t.ipt.restore = async (p) => {
      order.push("hostports");
      return restore(p);
    };
    await t.plugin.tearDownPod("default", "web", "sb1");
    assert.ok(order.indexOf("hostports") < order.indexOf("DEL kubenet end"), order.join(", "));
    assert.ok(order.indexOf("DEL kubenet-loopback start") < order.indexOf("DEL kubenet end"), order.join(", "));
    assert.equal(t.ipt.rules("nat").filter((r) => r.includes("KUBE-HP-")).length, 0);
    assert.deepEqual([...t.opener.held], []);
  });

  it("netlink shaper: the classes are made while the ADD runs; a failed ADD takes them back", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const t = setup({ extra: { shaper: createShaper(tc, "cbr0") } });
    await ready(t);
    const add = t.invoker.addNetworkList.bind(t.invoker);
    const during: number[] = [];
    t.invoker.addNetworkList = async (list, rt) => {
      await new Promise((r) => setTimeout(r, 5));
      during.push(tc.classes("cbr0").length);
      return add(list, rt);
    };
    await t.plugin.setUpPod("default", "web", "sb1", annotations, {});
    assert.deepEqual(during, [2, 2], "both classes exist before the address is known");
    assert.deepEqual(
      tc.u32Filters("cbr0", 0x10000).map((f) => [f.keys[0]!.val.toString(16), f.keys[0]!.off]),
      [
        ["ac80002", 16],
        ["ac80002", 12],
      ],
    );
    await t.plugin.tearDownPod("default", "web", "sb1");
    assert.deepEqual([tc.classes("cbr0"), tc.u32Filters("cbr0", 0x10000)], [[], []]);
    t.invoker.fail.set("kubenet", new CniError(CniCode.Internal, "no more addresses"));
    await assert.rejects(t.plugin.setUpPod("default", "web", "sb1", annotations, {}), /no more addresses/);
    assert.deepEqual(tc.classes("cbr0"), [], "the classes made ahead are removed");
  });

  it("the first shaped pod: cbr0 appears during its ADD; the limits are made after it, and its whole life logs nothing above info", async () => {
    const tc = createFakeTcNetlink([]); // a fresh node: no cbr0 until the bridge plugin makes it
    const t = setup({ portMappings: HP, extra: { shaper: createShaper(tc, "cbr0") } });
    await t.ipt.ensureChain("nat", "KUBE-MARK-MASQ");
    await t.kernel.netns(null).linkAddVeth("eth0", "eth0p", { mtu: 1500, up: true });
    await t.plugin.init(t.host, "promiscuous-bridge", "10.0.0.0/8", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    const add = t.invoker.addNetworkList.bind(t.invoker);
    t.invoker.addNetworkList = async (list, rt) => {
      if (list.name === "kubenet" && !(await t.kernel.netns(null).linkGet("cbr0"))) {
        await t.kernel.netns(null).linkAddBridge("cbr0", { mac: "0a:58:0a:c8:00:01", up: true });
        tc.addDevice("cbr0");
      }
      return add(list, rt);
    };
    await t.plugin.setUpPod("default", "web", "sb1", annotations, {});
    assert.deepEqual(
      tc.u32Filters("cbr0", 0x10000).map((f) => [f.keys[0]!.val.toString(16), f.keys[0]!.off]),
      [
        ["ac80002", 16],
        ["ac80002", 12],
      ],
      "both limits on the first pod",
    );
    assert.equal(tc.classes("cbr0").length, 2);
    await t.plugin.getPodNetworkStatus("default", "web", "sb1");
    await t.plugin.tearDownPod("default", "web", "sb1");
    assert.deepEqual([tc.classes("cbr0"), tc.u32Filters("cbr0", 0x10000)], [[], []]);
    // the second pod finds cbr0 and makes its classes ahead of the ADD
    t.netns.set("sb2", NS);
    await t.plugin.setUpPod("default", "db", "sb2", annotations, {});
    await t.plugin.tearDownPod("default", "db", "sb2");
    assert.deepEqual(
      t.log.lines.filter((l) => l.level === "warn" || l.level === "error"),
      [],
    );
  });

  it("PODNET_TRACE: one line per operation, phase by phase", async () => {
    const t = setup({ portMappings: HP, extra: { trace: true } });
    await ready(t);
    await t.plugin.setUpPod("default", "web", "sb1", annotations, {});
    await t.plugin.tearDownPod("default", "web", "sb1");
    const lines = t.log.lines.filter((l) => l.msg.startsWith("podnet trace")).map((l) => l.msg);
    assert.match(
      lines[0]!,
      /^podnet trace kubenet SetUpPod: dad=[\d.]+ms cni-add=[\d.]+ms shaping=[\d.]+ms hostports=[\d.]+ms total=[\d.]+ms$/,
    );
    assert.match(
      lines[1]!,
      /^podnet trace kubenet TearDownPod: lookup=[\d.]+ms (?=.*cni-del‖=)(?=.*hostports‖=)(?=.*shaping‖=).* total=[\d.]+ms$/,
    );
  });
});

describe("kubenet: after a restart", () => {
  const HP = [{ hostPort: 8080, containerPort: 80, protocol: "TCP" as const, hostIP: "" }];
  const annotations = { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "5M" };
  /** A node with one shaped hostPort pod set up, its eth0 and lease made as the bridge and host-local would. */
  async function node() {
    const files: Record<string, string> = {};
    const tc = createFakeTcNetlink(["cbr0"]);
    const t = setup({ portMappings: HP, files, extra: { shaper: createShaper(tc, "cbr0") } });
    await t.ipt.ensureChain("nat", "KUBE-MARK-MASQ");
    await t.plugin.init(t.host, "none", "10.0.0.0/8", 0);
    t.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
    await t.kernel.netns(null).linkAddBridge("cbr0", { up: true });
    await t.plugin.setUpPod("default", "web", "sb1", annotations, {});
    const ops = t.kernel.netns(NS);
    await ops.linkAddDummy("eth0", { up: true });
    await ops.addrAdd("eth0", "10.200.0.2/24");
    files["/ipam/kubenet/10.200.0.2"] = "sb1\r\neth0";
    /** The same node with a restarted daemon: the kernel, tables and files as they are, nothing in memory (its held ports died with it). */
    const restart = async () => {
      const r = setup({
        portMappings: HP,
        files,
        extra: {
          kernel: t.kernel,
          iptables: t.ipt,
          iptables6: t.ipt6,
          invokerFor: () => t.invoker,
          shaper: createShaper(tc, "cbr0"),
        },
      });
      await r.plugin.init(r.host, "none", "10.0.0.0/8", 0);
      r.plugin.event("pod-cidr-change", { "pod-cidr": "10.200.0.0/24" });
      return r;
    };
    return { t, tc, files, ops, restart };
  }

  it("verifyPod: eth0 with the leased address, the hostport chain, jump, DNAT and held port, both limits; names what is missing", async () => {
    const { t, tc, files, ops } = await node();
    const verify = () => t.plugin.verifyPod!("default", "web", "sb1", annotations);
    assert.deepEqual(await verify(), []);
    // the shaping filter of one direction, behind the daemon's back
    const ingress = tc.u32Filters("cbr0", 0x10000).find((f) => f.keys[0]!.off === 16)!;
    tc.deleteU32Filter("cbr0", { parent: 0x10000, ...ingress });
    assert.deepEqual(await verify(), ["the ingress limit of 10.200.0.2/32 has no tc filter on cbr0"]);
    // the DNAT
    const chain = t.ipt
      .rules("nat")
      .find((r) => r.includes("DNAT"))!
      .split(" ")[1]!;
    t.ipt.tables.get("nat")!.set(chain, []);
    assert.match(
      (await verify()).join("\n"),
      new RegExp(`hostPort 8080/TCP: chain ${chain} has no DNAT to 10.200.0.2:80`),
    );
    // eth0, and the lease
    await ops.linkDel("eth0");
    delete files["/ipam/kubenet/10.200.0.2"];
    const problems = await verify();
    assert.equal(problems[0], 'no host-local lease of network "kubenet" is held by sandbox sb1');
    assert.equal(problems[1], "eth0 is missing in /run/netns/pod1");
    t.netns.delete("sb1");
    assert.deepEqual(await verify(), ['cannot find network namespace for the terminated container "sb1"']);
  });

  it("a restarted daemon's teardown takes the addresses from the leases: hostport rules and limits go at once, not at the next gc", async () => {
    const { t, tc, restart } = await node();
    const r = await restart();
    await r.plugin.tearDownPod("default", "web", "sb1");
    assert.deepEqual(
      t.ipt.rules("nat").filter((x) => x.includes("KUBE-HP-")),
      [],
    );
    assert.deepEqual([tc.u32Filters("cbr0", 0x10000), tc.classes("cbr0")], [[], []]);
  });

  it("gc collects a shaping class without a filter (a crash between the two), and nothing of a live pod's", async () => {
    const { tc, restart } = await node();
    tc.addHtbClass("cbr0", 0x10000, 0x10007, 125_000); // made for a pod whose filter never came
    const r = await restart();
    await r.plugin.reattachPod!("default", "web", "sb1");
    const released = await r.plugin.gc!(new Set(["sb1"]));
    assert.deepEqual(released, ["shaping class 1:7"]);
    assert.deepEqual(
      tc
        .classes("cbr0")
        .map((c) => c.handle)
        .sort(),
      [0x10001, 0x10002],
    );
    assert.equal(tc.u32Filters("cbr0", 0x10000).length, 2);
  });
});
