import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Entry,
  FakeRoutePort,
  diffEntries,
  diffPeers,
  describeEntry,
  planAll,
  podMtu,
  type SelfView,
} from "./routes.js";
import type { NodeRecord } from "./node-record.js";

const self: SelfView = {
  name: "n1",
  nodeIPs: ["192.168.10.1"],
  podCIDRs: ["10.200.0.0/24"],
  connected: ["192.168.10.0/24"],
  backend: "auto",
  vtep: { mac: "02:00:00:00:00:01", vni: 1, port: 4789 },
};
const peer = (name: string, ip: string, cidr: string, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  name,
  nodeIPs: [ip],
  podCIDRs: [cidr],
  backend: "auto",
  vtep: { mac: `02:00:00:00:00:${name.slice(1).padStart(2, "0")}`, vni: 1, port: 4789 },
  ...extra,
});
const lines = (es: readonly Entry[]) => es.map(describeEntry);

describe("route plans", () => {
  const peers = [
    peer("n2", "192.168.10.2", "10.200.1.0/24"),
    peer("n3", "192.168.20.3", "10.200.2.0/24"),
    self as unknown as NodeRecord,
  ];

  it("auto: host-gw to a peer on a connected subnet, VXLAN (FDB, neighbour, onlink route) to one behind a router", () => {
    const plans = planAll(self, peers);
    assert.deepEqual([...plans.keys()], ["n2", "n3"], "self is never a peer");
    assert.equal(plans.get("n2")!.mode, "host-gw");
    assert.deepEqual(lines(plans.get("n2")!.entries), ["route 10.200.1.0/24 via 192.168.10.2"]);
    assert.equal(plans.get("n3")!.mode, "vxlan");
    assert.deepEqual(lines(plans.get("n3")!.entries), [
      "fdb 02:00:00:00:00:03 dev podnet.vxlan dst 192.168.20.3",
      "neigh 10.200.2.0 lladdr 02:00:00:00:00:03 dev podnet.vxlan",
      "route 10.200.2.0/24 via 10.200.2.0 dev podnet.vxlan onlink",
    ]);
  });

  it("host-gw only: no route to a peer on another subnet, with the reason", () => {
    const plans = planAll({ ...self, backend: "host-gw" }, peers);
    assert.equal(plans.get("n2")!.mode, "host-gw");
    assert.equal(plans.get("n3")!.mode, "none");
    assert.deepEqual(plans.get("n3")!.entries, []);
    assert.match(
      plans.get("n3")!.problems[0]!,
      /--backend=host-gw, but node IP 192\.168\.20\.3 of n3 is not on a directly connected subnet/,
    );
  });

  it("vxlan only: VXLAN even to a neighbour; a peer without a VTEP is reported", () => {
    const plans = planAll({ ...self, backend: "vxlan" }, [
      ...peers,
      peer("n4", "192.168.30.4", "10.200.3.0/24", { backend: "host-gw", vtep: undefined } as Partial<NodeRecord>),
    ]);
    assert.equal(plans.get("n2")!.mode, "vxlan");
    assert.equal(plans.get("n4")!.mode, "none");
    assert.match(plans.get("n4")!.problems[0]!, /n4 has no VXLAN endpoint \(its --backend=host-gw\)/);
  });

  it("dual-stack: a route per family, host-gw where the peer has a connected address of that family", () => {
    const s: SelfView = {
      ...self,
      nodeIPs: ["192.168.10.1", "fd00:10::1"],
      connected: ["192.168.10.0/24", "fd00:10::/64"],
      podCIDRs: ["10.200.0.0/24", "fd00:200::/64"],
    };
    const p = peer("n2", "192.168.10.2", "10.200.1.0/24", {
      nodeIPs: ["192.168.10.2"],
      podCIDRs: ["10.200.1.0/24", "fd00:200:0:1::/64"],
    });
    const plan = planAll(s, [p]).get("n2")!;
    assert.equal(plan.mode, "mixed");
    assert.deepEqual(lines(plan.entries), [
      "route 10.200.1.0/24 via 192.168.10.2",
      "fdb 02:00:00:00:00:02 dev podnet.vxlan dst 192.168.10.2",
      "neigh fd00:200:0:1:: lladdr 02:00:00:00:00:02 dev podnet.vxlan",
      "route fd00:200:0:1::/64 via fd00:200:0:1:: dev podnet.vxlan onlink",
    ]);
  });

  it("lowers the pods' MTU by VXLAN's overhead only when a peer uses VXLAN", () => {
    assert.equal(podMtu(1500, ["host-gw", "host-gw"], 4), 1500);
    assert.equal(podMtu(1500, ["host-gw", "vxlan"], 4), 1450);
    assert.equal(podMtu(1500, ["mixed"], 6), 1430);
    assert.equal(podMtu(9000, [], 4), 9000);
  });
});

describe("diffEntries", () => {
  const r = (dst: string, via: string): Entry => ({ kind: "route", dst, via });
  const fdb: Entry = { kind: "fdb", dev: "podnet.vxlan", mac: "02:00:00:00:00:03", dst: "192.168.20.3" };
  const neigh: Entry = { kind: "neigh", dev: "podnet.vxlan", ip: "10.200.2.0", mac: "02:00:00:00:00:03" };
  const vx: Entry = { kind: "route", dst: "10.200.2.0/24", via: "10.200.2.0", dev: "podnet.vxlan", onlink: true };

  it("adds what is missing (FDB, then neighbour, then route), keeps what matches, replaces what differs", () => {
    const ch = diffEntries(
      [r("10.200.1.0/24", "192.168.10.2"), vx, neigh, fdb, r("10.200.4.0/24", "192.168.10.9")],
      [r("10.200.1.0/24", "192.168.10.2"), r("10.200.4.0/24", "192.168.10.4")],
    );
    assert.deepEqual(
      ch.map((c) => `${c.op} ${describeEntry(c.entry)}`),
      [
        "add fdb 02:00:00:00:00:03 dev podnet.vxlan dst 192.168.20.3",
        "add neigh 10.200.2.0 lladdr 02:00:00:00:00:03 dev podnet.vxlan",
        "add route 10.200.2.0/24 via 10.200.2.0 dev podnet.vxlan onlink",
        "add route 10.200.4.0/24 via 192.168.10.9",
      ],
    );
  });

  it("removes stale entries, routes before neighbours before FDB entries", () => {
    const ch = diffEntries([], [fdb, neigh, vx, r("10.200.1.0/24", "192.168.10.2")]);
    assert.deepEqual(
      ch.map((c) => `${c.op} ${c.entry.kind}`),
      ["del route", "del route", "del neigh", "del fdb"],
    );
    assert.deepEqual(diffEntries([vx, fdb], [fdb, vx]), []);
  });

  it("the fake port applies a batch and reports what failed", async () => {
    const port = new FakeRoutePort();
    port.failWith = (c) => (c.entry.kind === "neigh" ? new Error("EINVAL") : undefined);
    const res = await port.apply(diffEntries([fdb, neigh, vx], []));
    assert.equal(res.failed.length, 1);
    assert.deepEqual((await port.list()).map((e) => e.kind).sort(), ["fdb", "route"]);
    assert.equal(port.batches.length, 1);
  });

  it("diffPeers: peer by peer, the same changes in the same order as diffEntries over the union", () => {
    const before = planAll(self, [
      peer("n2", "192.168.10.2", "10.200.1.0/24"),
      peer("n3", "192.168.20.3", "10.200.2.0/24"),
      peer("n4", "192.168.10.4", "10.200.3.0/24"),
    ]);
    // n2 moves behind a router (host-gw → VXLAN), n3 is gone, n4 is unchanged, n5 is new (VXLAN)
    const after = planAll(self, [
      peer("n2", "192.168.30.2", "10.200.1.0/24"),
      peer("n4", "192.168.10.4", "10.200.3.0/24"),
      peer("n5", "192.168.40.5", "10.200.4.0/24"),
    ]);
    const names = ["n2", "n3", "n4", "n5"];
    const pairs = names.map((n) => [before.get(n)?.entries, after.get(n)?.entries] as const);
    const union = (m: typeof before) => names.flatMap((n) => m.get(n)?.entries ?? []);
    const show = (cs: ReturnType<typeof diffPeers>) => cs.map((c) => `${c.op} ${describeEntry(c.entry)}`);
    assert.deepEqual(show(diffPeers(pairs)), show(diffEntries(union(after), union(before))));
    assert.deepEqual(show(diffPeers(pairs)).slice(0, 4), [
      "del route 10.200.2.0/24 via 10.200.2.0 dev podnet.vxlan onlink",
      "del neigh 10.200.2.0 lladdr 02:00:00:00:00:03 dev podnet.vxlan",
      "del fdb 02:00:00:00:00:03 dev podnet.vxlan dst 192.168.20.3",
      "add fdb 02:00:00:00:00:02 dev podnet.vxlan dst 192.168.30.2",
    ]);
    assert.deepEqual(
      diffPeers([[before.get("n4")!.entries, after.get("n4")!.entries]]),
      [],
      "an unchanged peer costs nothing",
    );
  });
});
