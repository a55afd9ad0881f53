// bandwidth as a plugin over fakes: the numbers, the names, the commands each verb runs.
import { describe, it, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createFakeKernel, type FakeKernel } from "../../../kernel/fake.js";
import { createFakeExec, type ExecReply, type FakeExec } from "../../../kernel/testing.js";
import { invokeFuncs } from "../../../sdk/testing.js";
import { BANDWIDTH_ABOUT, createBandwidth, ifbDeviceName, shapingParams } from "./bandwidth.js";
import { createTc, parsePsched, tcLine, type TcShapingNetlink } from "../../../kernel/tc.js";
import { memStateFs } from "../testing.js";

describe("shaping numbers", () => {
  it("Go's tbf for an explicit burst", () => {
    assert.deepEqual(shapingParams(1_000_000, 800_000, 1500), {
      rateBytes: 125_000,
      burstBytes: 100_000,
      limitBytes: 103_125,
      bufferTicks: 12_500_000,
    });
  });
  it("Kubernetes' MaxInt32 burst becomes 50 ms at the rate, at least two frames", () => {
    assert.equal(shapingParams(10_000_000, 2147483647, 1500).burstBytes, 62_500);
    assert.equal(shapingParams(1_000_000, 2147483647, 1500).burstBytes, 6_250);
    assert.equal(shapingParams(100_000, 2147483647, 1500).burstBytes, 3_028);
  });
  it("a huge explicit burst is clamped to the 32-bit tick buffer; one under a frame is raised to a frame", () => {
    const p = shapingParams(1_000_000, 8 * 0xfffffffe, 1500);
    assert.ok(p.bufferTicks <= 0xffffffff && p.burstBytes < 0xfffffffe);
    assert.equal(shapingParams(1_000_000, 8000, 1500).burstBytes, 1514);
  });
  it("names the ifb as Go does", () => {
    assert.equal(ifbDeviceName("mynet", "abc123"), "bwp70a29d9dc18b");
  });
});

const memFs = () => memStateFs();

const POD = "/run/netns/pod";
let kernel: FakeKernel;
let fs: ReturnType<typeof memFs>;
let exec: FakeExec;
let qdiscJson: string;
let failBatch: boolean;
const answer = (argv: readonly string[]): ExecReply => {
  if (argv.includes("-json")) return qdiscJson;
  if (failBatch && argv.includes("-batch") && !argv.includes("-force"))
    return { code: 1, stderr: "RTNETLINK answers: File exists\nCommand failed -:1\n" };
  return "";
};
const PSCHED = parsePsched("000003e8 00000040 000f4240 3b9aca00\n");
const tc = () => createTc({ exec, psched: PSCHED });
const plugin = () => createBandwidth({ tc, kernel, fs, dataDir: "/data" });
const prev = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "cni0" }, { name: "veth1" }, { name: "eth0", sandbox: POD }],
  ips: [{ address: "10.200.0.5/24", interface: 2 }],
};
const conf = (bw: Record<string, number> | undefined, p: unknown = prev) => ({
  cniVersion: "1.0.0",
  name: "net",
  type: "bandwidth",
  ...(bw ? { runtimeConfig: { bandwidth: bw } } : {}),
  ...(p ? { prevResult: p } : {}),
});
const run = (command: string, c: unknown) =>
  invokeFuncs(plugin(), BANDWIDTH_ABOUT, {
    command,
    conf: c as Record<string, unknown>,
    netns: POD,
    containerID: "ctr1",
  });
const BW = { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 4_000_000, egressBurst: 400_000 };

beforeEach(async () => {
  kernel = createFakeKernel({ netns: [POD] });
  fs = memFs();
  exec = createFakeExec().on("", answer);
  qdiscJson = "[]";
  failBatch = false;
  await kernel.netns(null).linkAddVeth("veth1", "eth0", { peerNetns: POD, mtu: 1500 });
});

describe("bandwidth ADD", () => {
  it("no limits: prevResult through, nothing run", async () => {
    const r = await run("ADD", conf(undefined));
    assert.equal(r.code, 0, r.stdout);
    assert.equal(exec.calls.length, 0);
  });

  it("one read, one `tc -batch` (tbf on the veth, ingress + mirred to the ifb, tbf on the ifb); the ifb in the result", async () => {
    const r = await run("ADD", conf(BW));
    assert.equal(r.code, 0, r.stdout);
    const ifb = ifbDeviceName("net", "ctr1");
    assert.deepEqual(exec.lines(), ["tc -json qdisc show dev veth1", "tc -batch -"]);
    assert.equal(
      exec.calls[1]!.stdin,
      [
        "qdisc add dev veth1 root handle 1: tbf rate 1000000bps burst 100000 limit 125000",
        "qdisc add dev veth1 handle ffff: ingress",
        `filter add dev veth1 parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev ${ifb}`,
        `qdisc replace dev ${ifb} root handle 1: tbf rate 500000bps burst 50000 limit 62500`,
        "",
      ].join("\n"),
    );
    const ifaces = (r.json!["interfaces"] as Array<{ name: string; mac?: string }>).map((i) => i.name);
    assert.deepEqual(ifaces, ["cni0", "veth1", "eth0", ifb]);
    const link = await kernel.netns(null).linkGet(ifb);
    assert.equal(link?.kind, "ifb");
    assert.equal(link?.mtu, 1500);
    assert.ok(link?.up);
  });

  it("an ingress qdisc someone else put there is shared, not added again", async () => {
    qdiscJson = '[{"kind":"ingress","handle":"ffff:","parent":"ffff:fff1","options":{}}]';
    await run("ADD", conf({ egressRate: 4_000_000, egressBurst: 400_000 }));
    assert.doesNotMatch(exec.calls[1]!.stdin, /ingress/);
  });

  it("a failed batch takes back what it added: the ifb and the veth's qdiscs", async () => {
    failBatch = true;
    const r = await run("ADD", conf(BW));
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /failed to set up bandwidth limits on veth1 \(veth1 already has a qdisc podnet did not make\)/,
    );
    assert.equal(await kernel.netns(null).linkGet(ifbDeviceName("net", "ctr1")), undefined);
    assert.equal(fs.files.has("/data/net/ctr1-eth0"), false);
  });

  it("a second attachment of the container gets its own ifb (Go's name leaves the ifname out)", async () => {
    await kernel.netns(null).linkAddVeth("veth2", "net1", { peerNetns: POD, mtu: 1500 });
    assert.equal((await run("ADD", conf(BW))).code, 0);
    const p2 = { cniVersion: "1.0.0", interfaces: [{ name: "veth2" }, { name: "net1", sandbox: POD }], ips: [] };
    const r = await invokeFuncs(plugin(), BANDWIDTH_ABOUT, {
      command: "ADD",
      conf: conf(BW, p2),
      netns: POD,
      containerID: "ctr1",
      ifName: "net1",
    });
    assert.equal(r.code, 0, r.stdout);
    const names = (r.json!["interfaces"] as Array<{ name: string }>).map((i) => i.name);
    assert.match(names.at(-1)!, /^bwp[0-9a-f]{12}$/);
    assert.notEqual(names.at(-1), ifbDeviceName("net", "ctr1"));
    // DEL of one leaves the other's ifb.
    await invokeFuncs(plugin(), BANDWIDTH_ABOUT, {
      command: "DEL",
      conf: conf(undefined, null),
      netns: "",
      containerID: "ctr1",
      ifName: "net1",
    });
    assert.ok(await kernel.netns(null).linkGet(ifbDeviceName("net", "ctr1")));
    assert.equal(await kernel.netns(null).linkGet(names.at(-1)!), undefined);
  });

  it("not a veth: Go's error", async () => {
    const r = await invokeFuncs(plugin(), BANDWIDTH_ABOUT, {
      command: "ADD",
      conf: conf(BW),
      netns: POD,
      containerID: "ctr1",
      ifName: "lo",
    });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /container interface lo has no veth peer/);
  });
});

describe("bandwidth DEL", () => {
  it("from the state: the veth's qdiscs and the ifb go, with no limits in the request and no netns", async () => {
    await run("ADD", conf(BW));
    exec.calls.length = 0;
    qdiscJson =
      '[{"kind":"tbf","handle":"1:","root":true,"options":{}},{"kind":"ingress","handle":"ffff:","parent":"ffff:fff1"}]';
    const r = await invokeFuncs(plugin(), BANDWIDTH_ABOUT, {
      command: "DEL",
      conf: conf(undefined, null),
      netns: "",
      containerID: "ctr1",
    });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), ["tc -json qdisc show dev veth1", "tc -force -batch -"]);
    assert.equal(exec.calls[1]!.stdin, "qdisc del dev veth1 root\nqdisc del dev veth1 ingress\n");
    assert.equal(await kernel.netns(null).linkGet(ifbDeviceName("net", "ctr1")), undefined);
  });

  it("without state (the Go plugin's ADD): the ifb by its name, and a missing one is fine", async () => {
    await kernel.netns(null).linkAddIfb(ifbDeviceName("net", "ctr1"));
    const r = await run("DEL", conf(undefined));
    assert.equal(r.code, 0, r.stdout);
    assert.equal(await kernel.netns(null).linkGet(ifbDeviceName("net", "ctr1")), undefined);
    assert.equal((await run("DEL", conf(undefined))).code, 0);
  });
});

describe("bandwidth over netlink", () => {
  it("ADD and DEL run no process: the same operations as the tc batch, through the shaping socket (closed after each call)", async () => {
    const applied: string[][] = [];
    let qs: Array<{ kind: string; handle: string; root?: boolean; parent?: string }> = [];
    let closed = 0;
    const netlink = (): TcShapingNetlink => ({
      shapingQdiscs: () => qs,
      shape: (ops, o) => void applied.push(ops.map((x) => `${o?.force ? "force " : ""}${tcLine(x)}`)),
      close: () => void closed++,
    });
    const p = createBandwidth({ tc: () => createTc({ exec, psched: PSCHED, netlink }), kernel, fs, dataDir: "/data" });
    const r = await invokeFuncs(p, BANDWIDTH_ABOUT, {
      command: "ADD",
      conf: conf(BW),
      netns: POD,
      containerID: "ctr1",
    });
    assert.equal(r.code, 0, r.stdout);
    const ifb = ifbDeviceName("net", "ctr1");
    assert.deepEqual(applied, [
      [
        "qdisc add dev veth1 root handle 1: tbf rate 1000000bps burst 100000 limit 125000",
        "qdisc add dev veth1 handle ffff: ingress",
        `filter add dev veth1 parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev ${ifb}`,
        `qdisc replace dev ${ifb} root handle 1: tbf rate 500000bps burst 50000 limit 62500`,
      ],
    ]);
    qs = [
      { kind: "tbf", handle: "1:", root: true },
      { kind: "ingress", handle: "ffff:", parent: "ffff:fff1" },
    ];
    const d = await invokeFuncs(p, BANDWIDTH_ABOUT, {
      command: "DEL",
      conf: conf(undefined, null),
      netns: "",
      containerID: "ctr1",
    });
    assert.equal(d.code, 0, d.stdout);
    assert.deepEqual(applied[1], ["force qdisc del dev veth1 root", "force qdisc del dev veth1 ingress"]);
    assert.equal(exec.calls.length, 0, "no tc process");
    assert.equal(closed, 2);
    assert.equal(await kernel.netns(null).linkGet(ifb), undefined);
  });
});

describe("bandwidth CHECK", () => {
  it("compares the tbfs with what ADD would make", async () => {
    await run("ADD", conf(BW));
    qdiscJson = '[{"kind":"tbf","handle":"1:","root":true,"options":{"rate":1000000,"burst":100000,"lat":25000}}]';
    const ok = await run("CHECK", conf({ ingressRate: 8_000_000, ingressBurst: 800_000 }));
    assert.equal(ok.code, 0, ok.stdout);
    const bad = await run("CHECK", conf({ ingressRate: 16_000_000, ingressBurst: 800_000 }));
    assert.match(bad.stdout, /Rate doesn't match on veth1: 1000000 bytes\/s, want 2000000/);
  });
});
