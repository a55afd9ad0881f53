// The allocation tests, written once and run over every ClusterStore: the in-memory one
// (allocator.test.ts) and a real etcd (etcd-store.netns.test.ts).
import { it } from "node:test";
import assert from "node:assert/strict";
import { parseCidr, formatNetwork, cidrOverlaps } from "../ip/index.js";
import {
  AllocationError,
  collectExpired,
  joinCluster,
  listNodes,
  removeNode,
  type JoinOptions,
  type AllocatorDeps,
} from "./allocator.js";
import { clusterRanges, parseClusterCidrs } from "./blocks.js";
import { silentLogger } from "./deps.js";
import { KeyLayout } from "./keys.js";
import type { ClusterStore } from "./store.js";

export interface SuiteStore {
  /** A store for one simulated node (several may share one server). */
  client(): ClusterStore;
  /** Makes `lease` expire now (fake clock) or revokes it (real etcd): the same keys vanish. */
  expire(store: ClusterStore, lease: string): Promise<void>;
}

let prefixSeq = 0;

export function allocationSuite(open: () => Promise<SuiteStore & { close(): Promise<void> }>): void {
  const ctx = async (cluster = "10.200.0.0/16", mask?: string) => {
    const s = await open();
    const keys = new KeyLayout(`/podnet-t${process.pid}-${++prefixSeq}`);
    const ranges = clusterRanges(parseClusterCidrs(cluster), mask);
    const stores: ClusterStore[] = [];
    const client = () => {
      const c = s.client();
      stores.push(c);
      return c;
    };
    const deps = (store: ClusterStore): AllocatorDeps => ({
      store,
      keys,
      log: silentLogger,
      random: Math.random,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: Date.now,
    });
    const join = async (name: string, extra: Partial<JoinOptions> = {}, store = client()) => {
      const lease = await store.grantLease(3600);
      const r = await joinCluster(deps(store), {
        ranges,
        self: { name, nodeIPs: ["192.168.50.1"], backend: "auto" },
        lease: lease.id,
        ...extra,
      });
      return { ...r, lease: lease.id, store };
    };
    const close = async () => {
      for (const c of stores) c.close();
      await s.close();
    };
    return { s, keys, ranges, client, deps, join, close };
  };

  it("takes the lowest free block, and the lowest again after a removal", async () => {
    const c = await ctx();
    try {
      assert.deepEqual((await c.join("a")).record.podCIDRs, ["10.200.0.0/24"]);
      assert.deepEqual((await c.join("b")).record.podCIDRs, ["10.200.1.0/24"]);
      assert.deepEqual((await c.join("c")).record.podCIDRs, ["10.200.2.0/24"]);
      const r = await removeNode(c.deps(c.client()), "b");
      assert.deepEqual(r, { removed: true, blocks: ["10.200.1.0/24"], wasAlive: true });
      assert.deepEqual((await c.join("d")).record.podCIDRs, ["10.200.1.0/24"]);
      assert.deepEqual(
        (await listNodes(c.deps(c.client()))).map((n) => [n.name, n.podCIDRs.join()]),
        [
          ["a", "10.200.0.0/24"],
          ["c", "10.200.2.0/24"],
          ["d", "10.200.1.0/24"],
        ],
      );
      assert.equal((await removeNode(c.deps(c.client()), "nobody")).removed, false);
    } finally {
      await c.close();
    }
  });

  it("refuses with an error naming the cluster CIDR when every block is taken", async () => {
    const c = await ctx("10.200.0.0/22");
    try {
      for (const n of ["a", "b", "c", "d"]) await c.join(n);
      await assert.rejects(
        c.join("e"),
        (e: unknown) =>
          e instanceof AllocationError &&
          e.kind === "exhausted" &&
          /cluster CIDR 10\.200\.0\.0\/22 has no free \/24 block: all 4 are taken/.test(e.message),
      );
    } finally {
      await c.close();
    }
  });

  it("keeps a node's block across restarts (same name), and takes back a remembered block", async () => {
    const c = await ctx();
    try {
      await c.join("a");
      const b1 = await c.join("b");
      await c.join("c");
      // a restart: a new process, a new lease, the same name
      const b2 = await c.join("b");
      assert.deepEqual(b2.record.podCIDRs, b1.record.podCIDRs);
      assert.equal(b2.conflicts, 0);
      // its record lost (removed while it was down), but its local state remembers the block
      await removeNode(c.deps(c.client()), "b");
      const b3 = await c.join("b", { remembered: [parseCidr("10.200.1.0/24")] });
      assert.deepEqual(b3.record.podCIDRs, ["10.200.1.0/24"]);
      // a remembered block someone else took meanwhile is reported lost, and a new one is taken
      await removeNode(c.deps(c.client()), "b");
      assert.deepEqual((await c.join("x")).record.podCIDRs, ["10.200.1.0/24"]);
      const b4 = await c.join("b", { remembered: [parseCidr("10.200.1.0/24")] });
      assert.deepEqual(b4.lost, ["10.200.1.0/24"]);
      assert.deepEqual(b4.record.podCIDRs, ["10.200.3.0/24"]);
    } finally {
      await c.close();
    }
  });

  it("frees the blocks of a node whose heartbeat expired, never those of a live or returning node", async () => {
    const c = await ctx();
    try {
      const a = await c.join("a");
      const b = await c.join("b");
      assert.deepEqual(await collectExpired(c.deps(c.client())), []);
      // a returns inside its TTL: same block, nothing collected
      const a2 = await c.join("a", {}, a.store);
      assert.deepEqual(a2.record.podCIDRs, ["10.200.0.0/24"]);
      // b's lease runs out: b is collected, a is not
      await c.s.expire(b.store, b.lease);
      assert.deepEqual(await collectExpired(c.deps(c.client())), ["b"]);
      assert.deepEqual(
        (await listNodes(c.deps(c.client()))).map((n) => n.name),
        ["a"],
      );
      assert.deepEqual((await c.join("n")).record.podCIDRs, ["10.200.1.0/24"]);
    } finally {
      await c.close();
    }
  });

  it("gives 50 nodes starting at once 50 different blocks", async () => {
    const c = await ctx();
    try {
      const res = await Promise.all(Array.from({ length: 50 }, (_, i) => c.join(`node-${i}`)));
      const blocks = res.map((r) => r.record.podCIDRs[0]!);
      assert.equal(new Set(blocks).size, 50);
      const parsed = blocks.map((b) => parseCidr(b));
      for (let i = 0; i < parsed.length; i++)
        for (let j = i + 1; j < parsed.length; j++)
          assert.ok(!cidrOverlaps(parsed[i]!, parsed[j]!), `${blocks[i]} overlaps ${blocks[j]}`);
      const { kvs } = await c.client().list(c.keys.blocks);
      assert.equal(kvs.length, 50);
      assert.deepEqual(new Set(kvs.map((kv) => kv.value)), new Set(res.map((r) => r.record.name)));
    } finally {
      await c.close();
    }
  });

  it("registers a --pod-cidr, refuses one that overlaps another node's block naming that node, or lies outside", async () => {
    const c = await ctx();
    try {
      await c.join("a");
      const b = await c.join("b", {
        self: { name: "b", nodeIPs: ["192.168.50.2"], backend: "auto", podCIDRs: [parseCidr("10.200.1.0/24")] },
      });
      assert.deepEqual(b.record.podCIDRs, ["10.200.1.0/24"]);
      assert.deepEqual(b.record.requested, ["10.200.1.0/24"]);
      assert.deepEqual((await c.join("c")).record.podCIDRs, ["10.200.2.0/24"]);
      await assert.rejects(
        c.join("d", {
          self: { name: "d", nodeIPs: ["192.168.50.4"], backend: "auto", podCIDRs: [parseCidr("10.200.0.0/23")] },
        }),
        (e: unknown) =>
          e instanceof AllocationError &&
          e.kind === "overlap" &&
          /node "a" holds 10\.200\.0\.0\/24/.test(e.message) &&
          /node "b" holds 10\.200\.1\.0\/24/.test(e.message),
      );
      await assert.rejects(
        c.join("e", {
          self: { name: "e", nodeIPs: ["192.168.50.5"], backend: "auto", podCIDRs: [parseCidr("10.200.2.128/25")] },
        }),
        (e: unknown) =>
          e instanceof AllocationError && e.kind === "overlap" && /node "c" holds 10\.200\.2\.0\/24/.test(e.message),
      );
      await assert.rejects(
        c.join("f", {
          self: { name: "f", nodeIPs: ["192.168.50.6"], backend: "auto", podCIDRs: [parseCidr("10.201.0.0/24")] },
        }),
        (e: unknown) =>
          e instanceof AllocationError && e.kind === "outside" && /cluster CIDR 10\.200\.0\.0\/16/.test(e.message),
      );
      // nothing half-made: the refused nodes hold no block
      const { kvs } = await c.client().list(c.keys.blocks);
      assert.deepEqual(kvs.map((kv) => kv.value).sort(), ["a", "b", "c"]);
    } finally {
      await c.close();
    }
  });

  it("takes one block per family in a dual-stack cluster and refuses a node with other cluster flags", async () => {
    const c = await ctx("10.200.0.0/16,fd00:200::/48");
    try {
      assert.deepEqual((await c.join("a")).record.podCIDRs, ["10.200.0.0/24", "fd00:200::/64"]);
      assert.deepEqual((await c.join("b")).record.podCIDRs, ["10.200.1.0/24", "fd00:200:0:1::/64"]);
      const other = clusterRanges(parseClusterCidrs("10.200.0.0/16"), "25");
      const store = c.client();
      const lease = await store.grantLease(3600);
      await assert.rejects(
        joinCluster(c.deps(store), {
          ranges: other,
          self: { name: "z", nodeIPs: ["192.168.50.9"], backend: "auto" },
          lease: lease.id,
        }),
        (e: unknown) =>
          e instanceof AllocationError &&
          e.kind === "config-mismatch" &&
          e.message.includes("--cluster-cidr=10.200.0.0/16,fd00:200::/48"),
      );
      assert.equal(formatNetwork(c.ranges[1]!.cidr), "fd00:200::/48");
    } finally {
      await c.close();
    }
  });
}
