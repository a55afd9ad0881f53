import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { allocationSuite } from "./testing-allocation-suite.js";
import { MemoryStore } from "./memory-store.js";
import { collectExpired, joinCluster, listNodes } from "./allocator.js";
import { clusterRanges, parseClusterCidrs } from "./blocks.js";
import { silentLogger } from "./deps.js";
import { KeyLayout } from "./keys.js";

describe("allocation over the in-memory store", () => {
  allocationSuite(async () => {
    const store = new MemoryStore();
    return {
      client: () => store,
      expire: (s, lease) => s.revokeLease({ id: lease, ttlSeconds: 0 }),
      close: async () => store.close(),
    };
  });
});

describe("node TTL on a fake clock", () => {
  it("frees a node absent longer than its TTL; a node renewing inside it keeps its block", async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now });
    const keys = new KeyLayout("/podnet");
    const ranges = clusterRanges(parseClusterCidrs("10.200.0.0/16"));
    const deps = { store, keys, log: silentLogger, random: Math.random, sleep: async () => {}, now: () => now };
    const join = async (name: string, ttl: number) => {
      const lease = await store.grantLease(ttl);
      const r = await joinCluster(deps, {
        ranges,
        self: { name, nodeIPs: ["192.168.50.1"], backend: "auto" },
        lease: lease.id,
      });
      return { lease, block: r.record.podCIDRs[0] };
    };
    const a = await join("a", 60);
    const b = await join("b", 60);
    assert.deepEqual([a.block, b.block], ["10.200.0.0/24", "10.200.1.0/24"]);
    // b renews at 50 s; a does not
    now += 50_000;
    await store.keepAlive(b.lease);
    now += 11_000; // 61 s after a's last renewal, 11 s after b's
    assert.deepEqual(await collectExpired(deps), ["a"]);
    assert.deepEqual(
      (await listNodes(deps)).map((n) => [n.name, n.podCIDRs[0]]),
      [["b", "10.200.1.0/24"]],
    );
    // the lowest block is free again
    assert.equal((await join("c", 60)).block, "10.200.0.0/24");
    // b, back after 40 s more (inside its TTL) with a new process, keeps its block
    now += 40_000;
    const b2 = await join("b", 60);
    assert.equal(b2.block, "10.200.1.0/24");
    assert.deepEqual(await collectExpired(deps), []);
  });
});
