// The ClusterStore over a real etcd (Debian's etcd-server) in a sandbox namespace: the allocation
// suite, and the store semantics the rest relies on (range conditions, watch resume, compaction,
// leases).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { allocationSuite } from "./testing-allocation-suite.js";
import { startTestEtcd, type TestEtcd } from "./testing-etcd.js";
import { EtcdStore } from "./etcd-store.js";
import { StoreError, type WatchEvent } from "./store.js";
import { NodeRegistry } from "./registry.js";
import { KeyLayout } from "./keys.js";
import { silentLogger, systemClock } from "./deps.js";
import { encodeRecord } from "./node-record.js";

let etcd: TestEtcd;
before(async () => {
  etcd = await startTestEtcd();
});
after(async () => {
  await etcd?.stop();
});

const open = () => new EtcdStore({ endpoints: [etcd.endpoint], ownConnection: true, requestTimeoutMs: 5000 });
const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

describe("allocation over a real etcd", () => {
  allocationSuite(async () => ({
    client: open,
    expire: (s, lease) => s.revokeLease({ id: lease, ttlSeconds: 0 }),
    close: async () => {},
  }));
});

describe("EtcdStore semantics", () => {
  it("evaluates range conditions as etcd does, and counts revisions per transaction", async () => {
    const s = open();
    try {
      const p = `/t${process.pid}-range/`;
      const r1 = await s.txn(
        [{ kind: "absent", key: `${p}b`, rangeEnd: `${p}d` }],
        [
          { kind: "put", key: `${p}a`, value: "1" },
          { kind: "put", key: `${p}e`, value: "2" },
        ],
      );
      assert.equal(r1.succeeded, true);
      const r2 = await s.txn(
        [{ kind: "absent", key: `${p}b`, rangeEnd: `${p}d` }],
        [{ kind: "put", key: `${p}c`, value: "3" }],
      );
      assert.equal(r2.succeeded, true);
      assert.equal(r2.revision, r1.revision + 1);
      const r3 = await s.txn(
        [{ kind: "absent", key: `${p}b`, rangeEnd: `${p}d` }],
        [{ kind: "put", key: `${p}x`, value: "4" }],
      );
      assert.equal(r3.succeeded, false);
      const l = await s.list(p);
      assert.deepEqual(
        l.kvs.map((k) => k.key),
        [`${p}a`, `${p}c`, `${p}e`],
      );
      const c = (await s.get(`${p}c`))!;
      assert.equal(
        (
          await s.txn(
            [{ kind: "modRevision", key: `${p}c`, equals: c.modRevision }],
            [{ kind: "delete", key: `${p}c` }],
          )
        ).succeeded,
        true,
      );
      assert.equal(await s.delete(`${p}c`), false);
    } finally {
      s.close();
    }
  });

  it("watches from a revision, and reports a compacted start revision once", async () => {
    const s = open();
    try {
      const p = `/t${process.pid}-watch/`;
      const first = await s.txn([], [{ kind: "put", key: `${p}a`, value: "1" }]);
      await s.txn([], [{ kind: "put", key: `${p}b`, value: "2" }]);
      await s.delete(`${p}a`);
      const got: WatchEvent[] = [];
      const w = s.watch(p, first.revision, {
        onEvents: (e) => got.push(...e),
        onCompacted: () => assert.fail("not compacted"),
      });
      await until(() => got.length === 3, "3 events");
      assert.deepEqual(
        got.map((e) => [e.type, e.key, e.value]),
        [
          ["put", `${p}a`, "1"],
          ["put", `${p}b`, "2"],
          ["delete", `${p}a`, ""],
        ],
      );
      w.close();
      const last = await s.txn([], [{ kind: "put", key: `${p}c`, value: "3" }]);
      await s.compact(last.revision);
      const compacted: number[] = [];
      const w2 = s.watch(p, first.revision, {
        onEvents: () => assert.fail("no events from a compacted revision"),
        onCompacted: (r) => compacted.push(r),
      });
      await until(() => compacted.length === 1, "onCompacted");
      assert.equal(compacted[0], last.revision);
      w2.close();
    } finally {
      s.close();
    }
  });

  it("renews leases, and reports a revoked one as lease-not-found", async () => {
    const s = open();
    try {
      const l = await s.grantLease(60);
      assert.equal(l.ttlSeconds, 60);
      await s.txn([], [{ kind: "put", key: `/t${process.pid}-lease/k`, value: "v", lease: l.id }]);
      await s.keepAlive(l);
      assert.equal((await s.get(`/t${process.pid}-lease/k`))?.lease, l.id);
      await s.revokeLease(l);
      assert.equal(await s.get(`/t${process.pid}-lease/k`), undefined);
      await assert.rejects(s.keepAlive(l), (e: unknown) => e instanceof StoreError && e.kind === "lease-not-found");
    } finally {
      s.close();
    }
  });

  it("fails fast with 'unavailable' when no endpoint answers", async () => {
    const s = new EtcdStore({ endpoints: [`unix://${etcd.dir}/nothing.sock:1`], requestTimeoutMs: 1000 });
    try {
      await assert.rejects(s.get("/x"), (e: unknown) => e instanceof StoreError && e.kind === "unavailable");
    } finally {
      s.close();
    }
  });

  it("registry: a watch behind a compaction re-lists exactly once and sees the changes it missed", async () => {
    const s = open();
    const keys = new KeyLayout(`/t${process.pid}-reg`);
    const rec = (name: string, cidr: string) =>
      encodeRecord({ name, nodeIPs: ["192.168.50.1"], podCIDRs: [cidr], backend: "auto" });
    try {
      await s.txn([], [{ kind: "put", key: keys.node("a"), value: rec("a", "10.200.0.0/24") }]);
      const reg = new NodeRegistry({ store: s, keys, clock: systemClock, log: silentLogger });
      // Start the registry on a store whose watch is held back until history is compacted.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const gated = Object.create(s) as EtcdStore;
      gated.watch = (prefix, from, h) => {
        let inner: { close(): void } | undefined;
        let closed = false;
        void gate.then(() => {
          if (!closed) inner = s.watch(prefix, from, h);
        });
        return {
          close: () => {
            closed = true;
            inner?.close();
          },
        };
      };
      const reg2 = new NodeRegistry({ store: gated, keys, clock: systemClock, log: silentLogger });
      const changes: Array<{ relist: boolean; up: string[]; rm: string[] }> = [];
      reg2.subscribe((c) => changes.push({ relist: c.relist, up: c.upserted.map((r) => r.name), rm: [...c.removed] }));
      await reg2.start();
      await s.txn([], [{ kind: "put", key: keys.node("b"), value: rec("b", "10.200.1.0/24") }]);
      await s.delete(keys.node("a"));
      const last = await s.txn([], [{ kind: "put", key: keys.node("c"), value: rec("c", "10.200.2.0/24") }]);
      await s.compact(last.revision);
      release();
      await until(() => reg2.counters.lists === 2, "the re-list");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(reg2.counters.lists, 2);
      assert.deepEqual([...reg2.nodes.keys()].sort(), ["b", "c"]);
      assert.deepEqual(changes, [
        { relist: true, up: ["a"], rm: [] },
        { relist: true, up: ["b", "c"], rm: ["a"] },
      ]);
      reg.stop();
      reg2.stop();
    } finally {
      s.close();
    }
  });
});
