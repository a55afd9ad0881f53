import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FanoutStore } from "./fanout-store.js";
import { MemoryStore } from "./memory-store.js";
import { settle } from "./testing-clock.js";

describe("FanoutStore", () => {
  it("serves many watchers from one upstream watch, each from its own revision, in order", async () => {
    const base = new MemoryStore();
    const f = new FanoutStore(base);
    const put = (k: string) => f.txn([], [{ kind: "put", key: k, value: "v" }]);
    const a: string[] = [];
    const b: string[] = [];
    f.watch("/p/", 1, { onEvents: (e) => a.push(...e.map((x) => x.key)), onCompacted: () => assert.fail() });
    await put("/p/1");
    const r2 = await put("/p/2");
    await settle();
    f.watch("/p/", r2.revision, { onEvents: (e) => b.push(...e.map((x) => x.key)), onCompacted: () => assert.fail() });
    await put("/p/3");
    await settle();
    assert.deepEqual(a, ["/p/1", "/p/2", "/p/3"]);
    assert.deepEqual(b, ["/p/2", "/p/3"]);
    assert.equal(f.upstreamWatches, 1);
    assert.equal(base.calls["watch"], 1);
  });

  it("passes a compaction on to every watcher", async () => {
    const base = new MemoryStore();
    const f = new FanoutStore(base);
    await f.txn([], [{ kind: "put", key: "/p/1", value: "v" }]);
    await f.txn([], [{ kind: "put", key: "/p/2", value: "v" }]);
    base.compact();
    const seen: number[] = [];
    f.watch("/p/", 1, { onEvents: () => assert.fail(), onCompacted: (r) => seen.push(r) });
    f.watch("/p/", 1, { onEvents: () => assert.fail(), onCompacted: (r) => seen.push(r) });
    await settle();
    assert.deepEqual(seen, [3, 3]);
  });
});
