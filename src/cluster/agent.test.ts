import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ClusterAgent, type ClusterAgentOptions } from "./agent.js";
import { clusterRanges, parseClusterCidrs } from "./blocks.js";
import { KeyLayout } from "./keys.js";
import { memoryLocalState } from "./local-state.js";
import { MemoryStore } from "./memory-store.js";
import { FakeRoutePort, describeEntry, PODNET_ROUTE_PROTOCOL } from "./routes.js";
import { FakeClock, settle } from "./testing-clock.js";
import { collectExpired, removeNode, listNodes } from "./allocator.js";
import { silentLogger } from "./deps.js";
import { memoryLogger } from "../netmgr/core/log.js";

const keys = new KeyLayout("/podnet");
const ranges = clusterRanges(parseClusterCidrs("10.200.0.0/16"));

function world() {
  const clock = new FakeClock();
  const store = new MemoryStore({ now: () => clock.now() });
  const agents: ClusterAgent[] = [];
  const make = (
    i: number,
    o: Partial<ClusterAgentOptions> = {},
    state = memoryLocalState(),
    port = new FakeRoutePort(),
    log = silentLogger as import("./deps.js").ClusterLogger,
  ) => {
    const a = new ClusterAgent(
      {
        name: `n${i}`,
        nodeIPs: [`192.168.10.${i}`],
        connected: ["192.168.10.0/24"],
        backend: "auto",
        vtep: { mac: `02:00:00:00:00:${String(i).padStart(2, "0")}`, vni: 1, port: 4789 },
        ranges,
        nodeTtlMs: 3600_000,
        ...o,
      },
      { store, keys, clock, routes: port, log, state, random: () => 0.5 },
    );
    agents.push(a);
    return { agent: a, port, state };
  };
  /** Advances the fake clock until the promise settles. */
  const run = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    const q = p.finally(() => (done = true));
    for (let i = 0; i < 200 && !done; i++) await clock.advance(100);
    return q;
  };
  const routes = (port: FakeRoutePort) =>
    [...port.table.values()]
      .filter((e) => e.kind === "route")
      .map(describeEntry)
      .sort();
  return { clock, store, make, run, routes, stopAll: () => Promise.all(agents.map((a) => a.stop())) };
}

describe("ClusterAgent", () => {
  it("joins, programs routes to every peer, sees a join and a removal everywhere", async () => {
    const w = world();
    try {
      const nodes = [1, 2, 3].map((i) => w.make(i));
      const blocks = await w.run(Promise.all(nodes.map((n) => n.agent.start())));
      assert.equal(new Set(blocks.map((b) => b[0])).size, 3);
      await w.clock.advance(100);
      for (const n of nodes) {
        assert.equal(n.agent.nodesKnown, 3);
        assert.equal(n.agent.peersInPlace, 2);
        assert.equal(
          n.agent.peers().every((p) => p.routesInPlace && p.mode === "host-gw"),
          true,
        );
        assert.equal(w.routes(n.port).length, 2);
      }
      // a fourth node joins from another subnet: VXLAN to it, and the pods' MTU drops
      const n4 = w.make(4, { nodeIPs: ["192.168.20.4"], connected: ["192.168.20.0/24"] });
      const [b4] = await w.run(n4.agent.start());
      await w.clock.advance(100);
      for (const n of nodes) {
        assert.ok(
          w.routes(n.port).includes(`route ${b4} via ${b4!.replace("/24", "")} dev podnet.vxlan onlink`),
          w.routes(n.port).join("; "),
        );
        assert.equal(n.agent.peers().find((p) => p.name === "n4")!.mode, "vxlan");
        assert.equal(n.agent.podMtu(1500), 1450);
      }
      // n4 stops and is removed: its routes, FDB and neighbour entries vanish everywhere
      await n4.agent.stop();
      await removeNode({ store: w.store, keys }, "n4");
      await w.clock.advance(100);
      for (const n of nodes) {
        assert.equal(n.port.table.size, 2);
        assert.equal(n.agent.podMtu(1500), 1500);
        assert.equal(n.agent.metrics().nodesKnown, 3);
      }
      assert.ok(nodes[0]!.agent.metrics().routeProgrammingCount >= 2);
    } finally {
      await w.stopAll();
    }
  });

  it("starts on its remembered block when etcd is down, leaves existing routes alone, registers when etcd returns", async () => {
    const w = world();
    try {
      const n1 = w.make(1);
      await w.run(n1.agent.start());
      const n2 = w.make(2);
      const [b2] = await w.run(n2.agent.start());
      await n2.agent.stop();
      await w.clock.advance(100);
      // n2 restarts while etcd is down: its state file remembers the block, its routes are in place
      w.store.setAvailable(false);
      const port = new FakeRoutePort();
      port.table.set("route 10.200.0.0/24", { kind: "route", dst: "10.200.0.0/24", via: "192.168.10.1" });
      const again = w.make(2, {}, n2.state, port);
      assert.deepEqual(await again.agent.start(), [b2]);
      assert.equal(again.agent.phase, "provisional");
      await w.clock.advance(60_000);
      assert.equal(port.table.size, 1, "routes untouched while the node list is unknown");
      assert.equal(port.batches.length, 0);
      assert.ok(again.agent.metrics().etcdErrors > 0);
      w.store.setAvailable(true);
      await w.clock.advance(60_000);
      assert.equal(again.agent.phase, "joined");
      assert.deepEqual(again.agent.podCIDRs, [b2]);
      assert.deepEqual(
        (await listNodes({ store: w.store, keys })).map((n) => [n.name, n.podCIDRs[0]]),
        [
          ["n1", "10.200.0.0/24"],
          ["n2", b2],
        ],
      );
    } finally {
      await w.stopAll();
    }
  });

  it("on restart removes stale podnet routes and adds missing ones", async () => {
    const w = world();
    try {
      const n1 = w.make(1);
      await w.run(n1.agent.start());
      const port = new FakeRoutePort();
      port.table.set("route 10.200.77.0/24", { kind: "route", dst: "10.200.77.0/24", via: "192.168.10.77" });
      const n2 = w.make(2, {}, memoryLocalState(), port);
      await w.run(n2.agent.start());
      await w.clock.advance(100);
      assert.deepEqual(w.routes(port), ["route 10.200.0.0/24 via 192.168.10.1"]);
      assert.equal(PODNET_ROUTE_PROTOCOL, 152);
    } finally {
      await w.stopAll();
    }
  });

  it("keeps renewing its lease far ahead of the TTL; a failed renewal is logged and retried, never fatal", async () => {
    const w = world();
    try {
      const log = memoryLogger();
      const n1 = w.make(1, { nodeTtlMs: 3600_000 }, memoryLocalState(), new FakeRoutePort(), log);
      await w.run(n1.agent.start());
      await w.clock.advance(2 * 3600_000);
      assert.deepEqual(await collectExpired({ store: w.store, keys, log: silentLogger }), []);
      w.store.setAvailable(false);
      await w.clock.advance(20 * 60_000); // 20 minutes without etcd, well inside the TTL
      w.store.setAvailable(true);
      await w.clock.advance(10 * 60_000);
      assert.ok(n1.agent.metrics().heartbeatFailures > 0);
      assert.ok(log.lines.some((l) => l.level === "warn" && l.msg === "heartbeat failed; retrying"));
      await w.clock.advance(3 * 3600_000);
      assert.deepEqual(await collectExpired({ store: w.store, keys, log: silentLogger }), []);
      assert.equal(n1.agent.phase, "joined");
      // stopped, it expires after the TTL and its block is freed
      await n1.agent.stop();
      await w.clock.advance(3600_000 + 1000);
      assert.deepEqual(await collectExpired({ store: w.store, keys, log: silentLogger }), ["n1"]);
    } finally {
      await w.stopAll();
    }
  });

  it("re-registers with the same block when its record is deleted while it runs", async () => {
    const w = world();
    try {
      const n1 = w.make(1);
      const [b] = await w.run(n1.agent.start());
      const r = await removeNode({ store: w.store, keys }, "n1");
      assert.equal(r.wasAlive, true);
      await w.clock.advance(5000);
      assert.deepEqual(
        (await listNodes({ store: w.store, keys })).map((n) => n.podCIDRs[0]),
        [b],
      );
      await settle();
    } finally {
      await w.stopAll();
    }
  });
});
