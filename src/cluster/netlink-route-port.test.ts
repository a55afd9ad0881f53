// NetlinkRoutePort over the fake kernel: what it lists (only podnet's), one batch per apply,
// create-or-replace without ever touching a foreign route, idempotent deletes, per-change
// failures; and the ClusterAgent programming a fake kernel through it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFakeKernel } from "../kernel/fake.js";
import { isKernelError } from "../kernel/errors.js";
import type { NetOps } from "../kernel/types.js";
import { ClusterAgent } from "./agent.js";
import { removeNode } from "./allocator.js";
import { clusterRanges, parseClusterCidrs } from "./blocks.js";
import { silentLogger } from "./deps.js";
import { KeyLayout } from "./keys.js";
import { memoryLocalState } from "./local-state.js";
import { MemoryStore } from "./memory-store.js";
import { NetlinkRoutePort } from "./netlink-route-port.js";
import { type Entry, PODNET_ROUTE_PROTOCOL, diffEntries, describeEntry } from "./routes.js";
import { FakeClock } from "./testing-clock.js";
import { ensureVxlanDevice } from "./vxlan-device.js";

const VX = "podnet.vxlan";
const PEER_MAC = "0e:00:00:00:00:02";

async function node(ops: NetOps, ip4: string, ip6?: string) {
  await ops.linkAddDummy("eth0", { up: true, mtu: 1500 });
  await ops.addrAdd("eth0", `${ip4}/24`);
  if (ip6) await ops.addrAdd("eth0", `${ip6}/64`, { noDad: true });
  return ensureVxlanDevice(ops, { nodeIP: ip4 });
}

const desired: Entry[] = [
  { kind: "route", dst: "10.200.1.0/24", via: "192.168.10.2" },
  { kind: "route", dst: "fd00:200:0:1::/64", via: "fd00:10::2" },
  { kind: "fdb", dev: VX, mac: PEER_MAC, dst: "192.168.20.3" },
  { kind: "neigh", dev: VX, ip: "10.200.2.0", mac: PEER_MAC },
  { kind: "route", dst: "10.200.2.0/24", via: "10.200.2.0", dev: VX, onlink: true },
  { kind: "neigh", dev: VX, ip: "fd00:200:0:2::", mac: PEER_MAC },
  { kind: "route", dst: "fd00:200:0:2::/64", via: "fd00:200:0:2::", dev: VX, onlink: true },
];

describe("NetlinkRoutePort (fake kernel)", () => {
  it("applies a diff in one batch and lists back exactly what it applied: a second diff is empty", async () => {
    const k = createFakeKernel();
    const ops = k.netns(null);
    await node(ops, "192.168.10.1", "fd00:10::1");
    const port = new NetlinkRoutePort(ops);
    assert.deepEqual(await port.list(), []);
    const changes = diffEntries(desired, await port.list());
    assert.equal(changes.length, desired.length);
    const before = k.calls.length;
    assert.deepEqual((await port.apply(changes)).failed, []);
    assert.equal(k.calls.slice(before).filter((c) => c.includes("-batch")).length, 1, "one batch");
    const listed = await port.list();
    assert.deepEqual(listed.map(describeEntry).sort(), desired.map(describeEntry).sort());
    assert.deepEqual(diffEntries(desired, listed), [], "nothing left to change");
    const dump = k.dump(null);
    assert.match(dump, /^route 10\.200\.1\.0\/24 via 192\.168\.10\.2 dev eth0 proto 152$/m);
    assert.match(dump, /^route 10\.200\.2\.0\/24 via 10\.200\.2\.0 dev podnet\.vxlan proto 152$/m);
    assert.match(dump, /^neigh 10\.200\.2\.0 lladdr 0e:00:00:00:00:02 dev podnet\.vxlan permanent$/m);
    assert.match(dump, /^fdb 0e:00:00:00:00:02 dev podnet\.vxlan dst 192\.168\.20\.3 self permanent$/m);
  });

  it("never lists, replaces or deletes a foreign route; replaces its own; removes stale entries", async () => {
    const k = createFakeKernel();
    const ops = k.netns(null);
    await node(ops, "192.168.10.1");
    const port = new NetlinkRoutePort(ops);
    // foreign: the same prefix (proto static), a covering prefix, and a neighbour on another link
    await ops.routeAdd({ dst: "10.200.9.0/24", gw: "192.168.10.5", protocol: 4 });
    await ops.routeAdd({ dst: "10.200.0.0/16", gw: "192.168.10.6" });
    await ops.neighReplace({ dev: "eth0", ip: "192.168.10.7", mac: "0e:00:00:00:00:07" });
    // podnet's own, stale (left by an earlier run)
    await ops.routeAdd({ dst: "10.200.7.0/24", gw: "192.168.10.7", protocol: PODNET_ROUTE_PROTOCOL });
    await ops.neighReplace({ dev: VX, ip: "10.200.7.0", mac: "0e:00:00:00:00:77" });
    await ops.fdbReplace({ dev: VX, mac: "0e:00:00:00:00:77", dst: "192.168.30.7" });
    // podnet's own, pointing elsewhere now
    await ops.routeAdd({ dst: "10.200.1.0/24", gw: "192.168.10.9", protocol: PODNET_ROUTE_PROTOCOL });

    const listed = await port.list();
    assert.deepEqual(listed.map(describeEntry).sort(), [
      "fdb 0e:00:00:00:00:77 dev podnet.vxlan dst 192.168.30.7",
      "neigh 10.200.7.0 lladdr 0e:00:00:00:00:77 dev podnet.vxlan",
      "route 10.200.1.0/24 via 192.168.10.9",
      "route 10.200.7.0/24 via 192.168.10.7",
    ]);
    const want: Entry[] = [
      { kind: "route", dst: "10.200.1.0/24", via: "192.168.10.2" },
      { kind: "route", dst: "10.200.9.0/24", via: "192.168.10.2" },
    ];
    const { failed } = await port.apply(diffEntries(want, listed));
    assert.equal(failed.length, 1);
    assert.equal(describeEntry(failed[0]!.change.entry), "route 10.200.9.0/24 via 192.168.10.2");
    assert.ok(isKernelError(failed[0]!.error, "EEXIST"));
    assert.match(failed[0]!.error.message, /proto 4, not podnet's 152: podnet leaves it alone/);
    const dump = k.dump(null);
    assert.match(
      dump,
      /^route 10\.200\.9\.0\/24 via 192\.168\.10\.5 dev eth0 proto 4$/m,
      "the foreign route is untouched",
    );
    assert.match(dump, /^route 10\.200\.0\.0\/16 via 192\.168\.10\.6 dev eth0$/m);
    assert.match(dump, /^neigh 192\.168\.10\.7 lladdr 0e:00:00:00:00:07 dev eth0 permanent$/m);
    assert.match(dump, /^route 10\.200\.1\.0\/24 via 192\.168\.10\.2 dev eth0 proto 152$/m, "its own route replaced");
    assert.doesNotMatch(dump, /10\.200\.7\.0|0e:00:00:00:00:77/, "stale entries removed");
  });

  it("a delete of an entry already gone is no failure; a refused change fails alone", async () => {
    const k = createFakeKernel();
    const ops = k.netns(null);
    await node(ops, "192.168.10.1");
    const port = new NetlinkRoutePort(ops);
    k.failOn("ip neigh replace 10.200.3.0", "EINVAL");
    const { failed } = await port.apply([
      { op: "del", entry: { kind: "route", dst: "10.200.5.0/24", via: "192.168.10.5" } },
      { op: "del", entry: { kind: "neigh", dev: VX, ip: "10.200.5.0", mac: PEER_MAC } },
      { op: "del", entry: { kind: "fdb", dev: VX, mac: PEER_MAC, dst: "192.168.20.5" } },
      { op: "add", entry: { kind: "neigh", dev: VX, ip: "10.200.3.0", mac: PEER_MAC } },
      { op: "add", entry: { kind: "route", dst: "10.200.4.0/24", via: "192.168.10.4" } },
      { op: "add", entry: { kind: "route", dst: "10.200.6.0/24", via: "not-an-ip" } },
    ]);
    assert.deepEqual(
      failed.map((f) => [describeEntry(f.change.entry), f.error.name]),
      [
        ["neigh 10.200.3.0 lladdr 0e:00:00:00:00:02 dev podnet.vxlan", "KernelError"],
        ["route 10.200.6.0/24 via not-an-ip", "RangeError"],
      ],
    );
    assert.match(failed[1]!.error.message, /invalid gateway "not-an-ip"/);
    assert.match(k.dump(null), /^route 10\.200\.4\.0\/24 via 192\.168\.10\.4 dev eth0 proto 152$/m);
  });

  it("lists nothing of a VXLAN device that does not exist", async () => {
    const k = createFakeKernel();
    const ops = k.netns(null);
    await ops.linkAddDummy("eth0", { up: true });
    await ops.addrAdd("eth0", "192.168.10.1/24");
    await ops.routeAdd({ dst: "10.200.1.0/24", gw: "192.168.10.2", protocol: PODNET_ROUTE_PROTOCOL });
    assert.deepEqual((await new NetlinkRoutePort(ops).list()).map(describeEntry), [
      "route 10.200.1.0/24 via 192.168.10.2",
    ]);
  });
});

describe("ClusterAgent over the fake kernel", () => {
  it("programs host-gw and VXLAN peers into each node's kernel and removes a removed node's entries", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ now: () => clock.now() });
    const keys = new KeyLayout("/podnet");
    const ranges = clusterRanges(parseClusterCidrs("10.200.0.0/16"));
    const nodes = [
      { name: "n1", ip: "192.168.10.1", net: "192.168.10.0/24" },
      { name: "n2", ip: "192.168.10.2", net: "192.168.10.0/24" },
      { name: "n3", ip: "192.168.20.3", net: "192.168.20.0/24" },
    ];
    const made = await Promise.all(
      nodes.map(async (n) => {
        const k = createFakeKernel();
        const ops = k.netns(null);
        const dev = await node(ops, n.ip);
        const agent = new ClusterAgent(
          {
            name: n.name,
            nodeIPs: [n.ip],
            connected: [n.net],
            backend: "auto",
            vtep: dev.vtep,
            ranges,
            nodeTtlMs: 3600_000,
          },
          {
            store,
            keys,
            clock,
            routes: new NetlinkRoutePort(ops),
            log: silentLogger,
            state: memoryLocalState(),
            random: () => 0.5,
          },
        );
        return { ...n, k, agent, mac: dev.mac };
      }),
    );
    const run = async <T>(p: Promise<T>): Promise<T> => {
      let done = false;
      const q = p.finally(() => (done = true));
      for (let i = 0; i < 200 && !done; i++) await clock.advance(100);
      return q;
    };
    try {
      const blocks = await run(Promise.all(made.map((m) => m.agent.start())));
      await clock.advance(100);
      const [b1, b2, b3] = blocks.map((b) => b[0]!);
      const d1 = made[0]!.k.dump(null);
      assert.match(
        d1,
        new RegExp(`^route ${b2!.replace(/\./g, "\\.")} via 192\\.168\\.10\\.2 dev eth0 proto 152$`, "m"),
      );
      const vtep3 = b3!.replace("/24", "");
      assert.match(
        d1,
        new RegExp(
          `^route ${b3!.replace(/\./g, "\\.")} via ${vtep3.replace(/\./g, "\\.")} dev podnet\\.vxlan proto 152$`,
          "m",
        ),
      );
      assert.ok(d1.includes(`neigh ${vtep3} lladdr ${made[2]!.mac} dev podnet.vxlan permanent`));
      assert.ok(d1.includes(`fdb ${made[2]!.mac} dev podnet.vxlan dst 192.168.20.3 self permanent`));
      const d3 = made[2]!.k.dump(null);
      assert.ok(d3.includes(`fdb ${made[0]!.mac} dev podnet.vxlan dst 192.168.10.1 self permanent`));
      assert.ok(d3.includes(`route ${b1} via ${b1!.replace("/24", "")} dev podnet.vxlan proto 152`));
      for (const m of made) assert.equal(m.agent.peersInPlace, 2, m.name);

      await made[2]!.agent.stop();
      await removeNode({ store, keys }, "n3");
      await clock.advance(100);
      for (const m of made.slice(0, 2)) {
        const d = m.k.dump(null);
        assert.doesNotMatch(d, new RegExp(`${vtep3.replace(/\./g, "\\.")}|${made[2]!.mac}`), m.name);
        assert.equal((d.match(/proto 152/g) ?? []).length, 1, `${m.name}: one route left`);
      }
    } finally {
      await Promise.all(made.map((m) => m.agent.stop()));
    }
  });
});
