import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NodeRegistry, type NodeChange } from "./registry.js";
import { MemoryStore } from "./memory-store.js";
import { KeyLayout } from "./keys.js";
import { encodeRecord } from "./node-record.js";
import { FakeClock, settle } from "./testing-clock.js";
import { silentLogger } from "./deps.js";

const keys = new KeyLayout("/podnet");
const rec = (name: string, cidr: string) =>
  encodeRecord({ name, nodeIPs: ["192.168.10.1"], podCIDRs: [cidr], backend: "auto" });
const put = (s: MemoryStore, name: string, cidr: string) =>
  s.txn([], [{ kind: "put", key: keys.node(name), value: rec(name, cidr) }]);

function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore();
  const reg = new NodeRegistry({ store, keys, clock, log: silentLogger, random: () => 0.5 });
  const changes: NodeChange[] = [];
  reg.subscribe((c) => changes.push(c));
  const short = () => changes.map((c) => ({ relist: c.relist, up: c.upserted.map((r) => r.name), rm: [...c.removed] }));
  return { clock, store, reg, changes, short };
}

describe("NodeRegistry", () => {
  it("lists once, then applies each event as a change of that node only", async () => {
    const t = setup();
    await put(t.store, "a", "10.200.0.0/24");
    await t.reg.start();
    await put(t.store, "b", "10.200.1.0/24");
    await settle();
    await put(t.store, "b", "10.200.1.0/24"); // same content: no change reported
    await settle();
    await t.store.delete(keys.node("a"));
    await t.store.txn([], [{ kind: "put", key: keys.node("c"), value: "{not json" }]);
    await settle();
    assert.deepEqual(t.short(), [
      { relist: true, up: ["a"], rm: [] },
      { relist: false, up: ["b"], rm: [] },
      { relist: false, up: [], rm: ["a"] },
    ]);
    assert.deepEqual([...t.reg.nodes.keys()], ["b"]);
    assert.equal(t.reg.counters.lists, 1);
    assert.equal(t.reg.counters.invalidRecords, 1);
    t.reg.stop();
  });

  it("resumes after a broken connection from the last revision, with no re-list", async () => {
    const t = setup();
    await t.reg.start();
    t.store.setAvailable(false);
    await settle();
    t.store.setAvailable(true);
    await put(t.store, "a", "10.200.0.0/24");
    await settle();
    assert.equal(t.reg.counters.lists, 1);
    assert.equal(t.reg.counters.watchRestarts, 1);
    assert.deepEqual([...t.reg.nodes.keys()], ["a"]);
    t.reg.stop();
  });

  it("a compacted revision triggers exactly one re-list, reported as one change against the old view", async () => {
    const queue: Array<() => void> = [];
    const store = new MemoryStore({ schedule: (fn) => queue.push(fn) });
    const flush = () => {
      while (queue.length) queue.shift()!();
    };
    const reg = new NodeRegistry({ store, keys, clock: new FakeClock(), log: silentLogger, random: () => 0.5 });
    const changes: Array<{ relist: boolean; up: string[]; rm: string[] }> = [];
    reg.subscribe((c) => changes.push({ relist: c.relist, up: c.upserted.map((r) => r.name), rm: [...c.removed] }));
    await put(store, "a", "10.200.0.0/24");
    await put(store, "x", "10.200.9.0/24");
    await reg.start(); // listed; its watch has not caught up yet
    await put(store, "b", "10.200.1.0/24");
    await store.delete(keys.node("a"));
    await put(store, "x", "10.200.9.0/24"); // rewritten, same content
    store.compact();
    flush();
    await settle();
    flush();
    assert.equal(reg.counters.lists, 2);
    assert.deepEqual(changes, [
      { relist: true, up: ["a", "x"], rm: [] },
      { relist: true, up: ["b"], rm: ["a"] },
    ]);
    await put(store, "c", "10.200.2.0/24");
    flush();
    assert.deepEqual([...reg.nodes.keys()].sort(), ["b", "c", "x"]);
    assert.equal(reg.counters.lists, 2);
    assert.equal(reg.counters.watchRestarts, 1);
    reg.stop();
  });
});
