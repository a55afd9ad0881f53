// NetlinkRoutePort against the real kernel, with the planner and the diff of routes.ts in front of
// it as the agent uses them: "node" namespaces with a pod-like namespace behind each, pinging
// across nodes —
//   host-gw: three nodes on one L2 segment (a bridge in a "switch" namespace), IPv4 and IPv6;
//   VXLAN:   two nodes on different subnets behind a "router" namespace that knows no pod route,
//            podnet.vxlan made by ensureVxlanDevice, IPv4 and IPv6 pods over an IPv4 underlay;
// and idempotence: applying twice changes nothing, a second diff is empty, stale entries go, a
// foreign route (another protocol) in the same prefix is never touched. Everything is made in
// namespaces of its own (podnet-t-*) and deleted in finally.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { netnsSkip, withTempNetns, type TempNetns } from "../kernel/testing.js";
import type { NodeRecord, VtepInfo } from "./node-record.js";
import { connectedSubnets } from "./node-discovery.js";
import { NetlinkRoutePort } from "./netlink-route-port.js";
import {
  type Change,
  DEFAULT_VXLAN_DEVICE,
  PODNET_ROUTE_PROTOCOL,
  type SelfView,
  diffEntries,
  planAll,
} from "./routes.js";
import { ensureVxlanDevice } from "./vxlan-device.js";

interface Node {
  readonly ns: TempNetns;
  readonly pod: TempNetns;
  readonly record: NodeRecord;
  readonly port: NetlinkRoutePort;
  /** The pod's addresses. */
  readonly pod4: string;
  readonly pod6: string;
}

/** A node's uplink "eth0" into `net` (a switch's bridge, or a router), with its addresses. */
async function uplink(net: TempNetns, netSide: string, node: TempNetns, addrs: readonly string[], master?: string) {
  await net.ops.linkAddVeth(netSide, "eth0", { peerNetns: node.path });
  if (master) await net.ops.linkSetMaster(netSide, master);
  await net.ops.linkSetUp(netSide);
  await node.ops.linkSetUp("lo");
  await node.ops.linkSetUp("eth0");
  for (const a of addrs) await node.ops.addrAdd("eth0", a, a.includes(":") ? { noDad: true } : {});
  await node.kernel.sysctl.write(node.path, "net/ipv4/ip_forward", "1");
  await node.kernel.sysctl.write(node.path, "net/ipv6/conf/all/forwarding", "1");
}

/** A pod behind the node: "vpod" on the node holds the blocks' first addresses, the pod the second. */
async function pod(node: TempNetns, p: TempNetns, p4: string, p6: string) {
  await node.ops.linkAddVeth("vpod", "eth0", { peerNetns: p.path });
  await node.ops.linkSetUp("vpod");
  await node.ops.addrAdd("vpod", `${p4}.1/24`);
  await node.ops.addrAdd("vpod", `${p6}::1/64`, { noDad: true });
  await p.ops.linkSetUp("lo");
  await p.ops.linkSetUp("eth0");
  await p.ops.addrAdd("eth0", `${p4}.2/24`);
  await p.ops.addrAdd("eth0", `${p6}::2/64`, { noDad: true });
  await p.ops.routeAdd({ dst: "default", gw: `${p4}.1` });
  await p.ops.routeAdd({ dst: "::/0", gw: `${p6}::1`, dev: "eth0" });
}

/** What the agent does per pass: plan every peer, diff against the port's list, apply. */
async function program(n: Node, all: readonly NodeRecord[]): Promise<Change[]> {
  const self: SelfView = {
    name: n.record.name,
    nodeIPs: n.record.nodeIPs,
    podCIDRs: n.record.podCIDRs,
    connected: await connectedSubnets(n.ns.ops, { exclude: ["vpod", DEFAULT_VXLAN_DEVICE] }),
    backend: "auto",
    ...(n.record.vtep ? { vtep: n.record.vtep } : {}),
  };
  const desired = [...planAll(self, all).values()].flatMap((p) => p.entries);
  const changes = diffEntries(desired, await n.port.list());
  const { failed } = await n.port.apply(changes);
  assert.deepEqual(
    failed.map((f) => f.error.message),
    [],
    n.record.name,
  );
  return changes;
}

/** One echo; `wait` seconds for the reply (a check that expects none waits 1 s). */
const ping = (from: TempNetns, ip: string, wait = 2) =>
  from.exec("ping", "-c1", `-W${wait}`, ip).then(
    () => true,
    () => false,
  );

/** Every pod pings every other node's pod, both families; what failed. */
async function pingAll(nodes: readonly Node[], wait = 2): Promise<string[]> {
  const bad: string[] = [];
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue;
      for (const ip of [b.pod4, b.pod6])
        if (!(await ping(a.pod, ip, wait))) bad.push(`${a.record.name} → ${b.record.name} ${ip}`);
    }
  }
  return bad;
}

const owned = async (ns: TempNetns) => {
  const r4 = await ns.ipJson("-4", "route", "show", "proto", String(PODNET_ROUTE_PROTOCOL));
  const r6 = await ns.ipJson("-6", "route", "show", "proto", String(PODNET_ROUTE_PROTOCOL));
  return JSON.stringify([r4, r6]);
};

describe("NetlinkRoutePort (real kernel)", { skip: netnsSkip() }, () => {
  it("host-gw: three nodes on one L2 segment, pods reach each other (IPv4, IPv6); foreign routes untouched; a removed peer's routes go", () =>
    withTempNetns(async (sw, ...rest) => {
      await sw.ops.linkAddBridge("br0", { up: true });
      const nodes: Node[] = [];
      for (let i = 1; i <= 3; i++) {
        const ns = rest[i - 1]!;
        const p = rest[i + 2]!;
        await uplink(sw, `n${i}`, ns, [`10.200.0.${i}/24`, `fd00:200::${i}/64`], "br0");
        const p4 = `10.200.${10 + i}`;
        const p6 = `fd00:200:${10 + i}`;
        await pod(ns, p, p4, p6);
        const record: NodeRecord = {
          name: `n${i}`,
          nodeIPs: [`10.200.0.${i}`, `fd00:200::${i}`],
          podCIDRs: [`${p4}.0/24`, `${p6}::/64`],
          backend: "auto",
        };
        nodes.push({ ns, pod: p, record, port: new NetlinkRoutePort(ns.ops), pod4: `${p4}.2`, pod6: `${p6}::2` });
      }
      const n1 = nodes[0]!;
      // foreign routes on n1: the same prefix as a peer's block with another metric, and a prefix podnet will want
      await n1.ns.ops.routeAdd({ dst: "10.200.12.0/24", gw: "10.200.0.2", metric: 100, protocol: 4 });
      await n1.ns.ops.routeAdd({ dst: "10.200.14.0/24", gw: "10.200.0.3", protocol: 4 });
      const records = nodes.map((n) => n.record);
      assert.deepEqual(
        await pingAll(nodes, 1),
        nodes.flatMap((a) =>
          nodes
            .filter((b) => b !== a)
            .flatMap((b) => [
              `${a.record.name} → ${b.record.name} ${b.pod4}`,
              `${a.record.name} → ${b.record.name} ${b.pod6}`,
            ]),
        ),
        "no routes yet: nothing reaches",
      );
      for (const n of nodes)
        assert.equal((await program(n, records)).length, 4, `${n.record.name}: two peers, two families`);
      assert.deepEqual(await pingAll(nodes), []);
      const [r] = await n1.ns.ipJson("route", "show", "10.200.12.0/24", "proto", "152");
      assert.deepEqual([r.gateway, r.dev], ["10.200.0.2", "eth0"]);

      // podnet's own routes pointing elsewhere (a peer's node IP changed): replaced in place, both families
      await n1.ns.ops.routeReplace({ dst: "10.200.13.0/24", gw: "10.200.0.2", protocol: PODNET_ROUTE_PROTOCOL });
      await n1.ns.ops.routeReplace({ dst: "fd00:200:13::/64", gw: "fd00:200::2", protocol: PODNET_ROUTE_PROTOCOL });
      assert.deepEqual(
        (await program(n1, records)).map((c) => `${c.op} ${c.entry.kind === "route" && c.entry.dst}`),
        ["add 10.200.13.0/24", "add fd00:200:13::/64"],
      );
      assert.equal((await n1.ns.ipJson("route", "show", "10.200.13.0/24"))[0]?.gateway, "10.200.0.3");
      assert.deepEqual(
        (await n1.ns.ipJson("-6", "route", "show", "fd00:200:13::/64")).map((x) => x.gateway),
        ["fd00:200::3"],
      );
      assert.deepEqual(await program(n1, records), []);

      // a fourth node whose block a foreign route already covers: refused, the foreign route untouched
      const n4: NodeRecord = { name: "n4", nodeIPs: ["10.200.0.4"], podCIDRs: ["10.200.14.0/24"], backend: "auto" };
      const self1: SelfView = {
        name: "n1",
        nodeIPs: n1.record.nodeIPs,
        podCIDRs: n1.record.podCIDRs,
        connected: ["10.200.0.0/24", "fd00:200::/64"],
        backend: "auto",
      };
      const want = [...planAll(self1, [...records, n4]).values()].flatMap((p) => p.entries);
      const { failed } = await n1.port.apply(diffEntries(want, await n1.port.list()));
      assert.deepEqual(
        failed.map((f) => [
          f.change.entry.kind === "route" && f.change.entry.dst,
          (f.error as { errno?: string }).errno,
        ]),
        [["10.200.14.0/24", "EEXIST"]],
      );
      assert.match(failed[0]!.error.message, /has proto 4, not podnet's 152/);
      const foreign = await n1.ns.ipJson("route", "show", "10.200.14.0/24");
      assert.deepEqual(
        foreign.map((x) => [x.gateway, x.protocol]),
        [["10.200.0.3", "static"]],
      );

      // n3 removed: its routes vanish from n1 and n2, the foreign route of the same prefix stays
      for (const n of nodes.slice(0, 2)) await program(n, records.slice(0, 2));
      assert.deepEqual(await n1.ns.ipJson("route", "show", "10.200.13.0/24"), []);
      assert.equal(await ping(n1.pod, nodes[2]!.pod4, 1), false);
      assert.equal(await ping(n1.pod, nodes[1]!.pod4), true);
      const same = await n1.ns.ipJson("route", "show", "10.200.12.0/24");
      assert.deepEqual(same.map((x) => [x.protocol, x.metric ?? 0]).sort(), [
        ["152", 0],
        ["static", 100],
      ]);
      // deleting n2's route (podnet's) leaves the foreign one of the same prefix
      await program(n1, [n1.record]);
      assert.deepEqual(
        (await n1.ns.ipJson("route", "show", "10.200.12.0/24")).map((x) => x.protocol),
        ["static"],
      );
    }, 7));

  it("VXLAN: two nodes on different subnets behind a router, pods reach each other (IPv4, IPv6 over IPv4); idempotent; stale entries removed", () =>
    withTempNetns(async (rt, a, b, pa, pb) => {
      await rt.kernel.sysctl.write(rt.path, "net/ipv4/ip_forward", "1");
      await rt.ops.linkSetUp("lo");
      const nodes: Node[] = [];
      for (const [i, ns, p] of [
        [1, a, pa],
        [2, b, pb],
      ] as const) {
        await uplink(rt, `n${i}`, ns, [`10.200.${i}.1/24`]);
        await rt.ops.addrAdd(`n${i}`, `10.200.${i}.254/24`);
        await ns.ops.routeAdd({ dst: "default", gw: `10.200.${i}.254` });
        const p4 = `10.200.${20 + i}`;
        const p6 = `fd00:200:${20 + i}`;
        await pod(ns, p, p4, p6);
        const blocks = [`${p4}.0/24`, `${p6}::/64`];
        const dev = await ensureVxlanDevice(ns.ops, { nodeIP: `10.200.${i}.1`, blocks });
        assert.deepEqual([dev.action, dev.mtu, dev.underlay], ["created", 1450, "eth0"]);
        const vtep: VtepInfo = dev.vtep;
        const record: NodeRecord = {
          name: `n${i}`,
          nodeIPs: [`10.200.${i}.1`],
          podCIDRs: blocks,
          backend: "auto",
          vtep,
        };
        nodes.push({ ns, pod: p, record, port: new NetlinkRoutePort(ns.ops), pod4: `${p4}.2`, pod6: `${p6}::2` });
      }
      const [n1, n2] = nodes as [Node, Node];
      const records = nodes.map((n) => n.record);
      assert.equal(await ping(pa, n2.pod4, 1), false, "the router knows no pod route");
      for (const n of nodes) assert.equal((await program(n, records)).length, 5, "FDB, 2 neighbours, 2 routes");
      assert.deepEqual(await pingAll(nodes), []);

      // what n1 has: the entries of flannel's layout, with podnet's protocol
      const [r] = await a.ipJson("route", "show", "10.200.22.0/24");
      assert.deepEqual([r.gateway, r.dev, r.flags, r.protocol], ["10.200.22.0", "podnet.vxlan", ["onlink"], "152"]);
      const [r6] = await a.ipJson("-6", "route", "show", "fd00:200:22::/64");
      assert.deepEqual([r6.gateway, r6.dev, r6.flags], ["fd00:200:22::", "podnet.vxlan", ["onlink"]]);
      const neigh = (await a.ipJson("neigh", "show", "dev", "podnet.vxlan"))
        .map((x) => [x.dst, x.lladdr, x.state[0]])
        .sort();
      assert.deepEqual(neigh, [
        ["10.200.22.0", n2.record.vtep!.mac, "PERMANENT"],
        ["fd00:200:22::", n2.record.vtep!.mac, "PERMANENT"],
      ]);
      const fdb = JSON.parse(await a.exec("bridge", "-json", "fdb", "show", "dev", "podnet.vxlan"));
      assert.deepEqual(
        fdb.map((x: { mac: string; dst: string; state: string }) => [x.mac, x.dst, x.state]),
        [[n2.record.vtep!.mac, "10.200.2.1", "permanent"]],
      );

      // idempotent: a second pass finds nothing to change; applying the same changes again changes nothing
      const before = await owned(a);
      assert.deepEqual(await program(n1, records), []);
      const again = diffEntries(
        [...planAll({ ...n1.record, connected: ["10.200.1.0/24"], vtep: n1.record.vtep! }, records).values()].flatMap(
          (p) => p.entries,
        ),
        [],
      );
      assert.deepEqual((await n1.port.apply(again)).failed, []);
      assert.equal(await owned(a), before);
      assert.equal(
        (await ensureVxlanDevice(a.ops, { nodeIP: "10.200.1.1", blocks: n1.record.podCIDRs })).action,
        "kept",
      );

      // stale entries (an earlier run's peer) are removed; the device's own and foreign ones stay
      await a.ops.routeAdd({
        dst: "10.200.29.0/24",
        gw: "10.200.29.0",
        dev: "podnet.vxlan",
        onlink: true,
        protocol: PODNET_ROUTE_PROTOCOL,
      });
      await a.ops.neighReplace({ dev: "podnet.vxlan", ip: "10.200.29.0", mac: "0e:00:00:00:00:29" });
      await a.ops.fdbReplace({ dev: "podnet.vxlan", mac: "0e:00:00:00:00:29", dst: "10.200.9.1" });
      await a.ops.routeAdd({ dst: "10.200.28.0/24", gw: "10.200.1.254", protocol: 4 });
      assert.deepEqual(
        (await program(n1, records)).map((c) => `${c.op} ${c.entry.kind}`),
        ["del route", "del neigh", "del fdb"],
      );
      assert.equal(await owned(a), before);
      assert.equal(JSON.parse(await a.exec("bridge", "-json", "fdb", "show", "dev", "podnet.vxlan")).length, 1);
      assert.equal((await a.ipJson("route", "show", "10.200.28.0/24"))[0]?.protocol, "static");

      // n2 leaves: n1 removes its FDB, neighbour and route entries
      await program(n1, [n1.record]);
      assert.equal(await owned(a), JSON.stringify([[], []]));
      assert.deepEqual(
        (await a.ipJson("neigh", "show", "dev", "podnet.vxlan")).filter((x) => x.state?.includes("PERMANENT")),
        [],
      );
      assert.deepEqual(JSON.parse(await a.exec("bridge", "-json", "fdb", "show", "dev", "podnet.vxlan")), []);
      assert.equal(await ping(pa, n2.pod4, 1), false);
    }, 5));
});
