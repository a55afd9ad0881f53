import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "./memory-store.js";
import { StoreError, createIfAbsent, compareAndSwap, type WatchEvent } from "./store.js";
import { settle } from "./testing-clock.js";

describe("MemoryStore", () => {
  it("counts one revision per writing transaction and evaluates conditions as etcd", async () => {
    const s = new MemoryStore();
    assert.equal(s.revision, 1);
    assert.equal((await createIfAbsent(s, "/a", "1")).succeeded, true);
    assert.equal((await createIfAbsent(s, "/a", "2")).succeeded, false);
    assert.equal(s.revision, 2);
    const a = (await s.get("/a"))!;
    assert.deepEqual([a.createRevision, a.modRevision], [2, 2]);
    assert.equal((await compareAndSwap(s, "/a", 1, "x")).succeeded, false);
    assert.equal((await compareAndSwap(s, "/a", 2, "3")).succeeded, true);
    assert.deepEqual([(await s.get("/a"))!.createRevision, (await s.get("/a"))!.modRevision], [2, 3]);
    assert.equal((await s.txn([{ kind: "absent", key: "/0", rangeEnd: "/b" }], [])).succeeded, false);
    assert.equal((await s.txn([{ kind: "absent", key: "/b", rangeEnd: "/z" }], [])).succeeded, true);
    await assert.rejects(
      s.txn(
        Array.from({ length: 129 }, () => ({ kind: "absent" as const, key: "/q" })),
        [],
      ),
      (e: unknown) => e instanceof StoreError && e.kind === "invalid",
    );
  });

  it("watches from a revision, and answers a compacted one with onCompacted only", async () => {
    const s = new MemoryStore();
    await s.txn([], [{ kind: "put", key: "/p/a", value: "1" }]);
    await s.txn([], [{ kind: "put", key: "/q/x", value: "0" }]);
    await s.delete("/p/a");
    const got: WatchEvent[] = [];
    s.watch("/p/", 2, { onEvents: (e) => got.push(...e), onCompacted: () => assert.fail() });
    await settle();
    assert.deepEqual(
      got.map((e) => [e.type, e.key, e.modRevision]),
      [
        ["put", "/p/a", 2],
        ["delete", "/p/a", 4],
      ],
    );
    s.compact(4);
    let compacted = 0;
    s.watch("/p/", 3, { onEvents: () => assert.fail(), onCompacted: (r) => (compacted = r) });
    await settle();
    assert.equal(compacted, 4);
  });

  it("expires leases on its clock, deleting their keys in one revision", async () => {
    let now = 0;
    const s = new MemoryStore({ now: () => now });
    const l = await s.grantLease(10);
    await s.txn(
      [],
      [
        { kind: "put", key: "/h/a", value: "", lease: l.id },
        { kind: "put", key: "/h/b", value: "", lease: l.id },
      ],
    );
    now = 9_000;
    await s.keepAlive(l);
    now = 18_999;
    assert.equal((await s.list("/h/")).kvs.length, 2);
    now = 19_000;
    const rev = s.revision;
    assert.equal((await s.list("/h/")).kvs.length, 0);
    assert.equal(s.revision, rev + 1);
    await assert.rejects(s.keepAlive(l), (e: unknown) => e instanceof StoreError && e.kind === "lease-not-found");
  });

  it("fails every call during an outage and resumes watches after it", async () => {
    const s = new MemoryStore();
    const got: string[] = [];
    let restarts = 0;
    s.watch("/p/", 1, {
      onEvents: (e) => got.push(...e.map((x) => x.key)),
      onCompacted: () => assert.fail(),
      onRestart: () => restarts++,
    });
    s.setAvailable(false);
    await settle();
    assert.equal(restarts, 1);
    await assert.rejects(s.get("/p/a"), (e: unknown) => e instanceof StoreError && e.kind === "unavailable");
    s.setAvailable(true);
    await s.txn([], [{ kind: "put", key: "/p/a", value: "1" }]);
    await settle();
    assert.deepEqual(got, ["/p/a"]);
  });
});
