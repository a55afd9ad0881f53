import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KeyedMutex, Mutex } from "./keyed-mutex.js";

describe("KeyedMutex", () => {
  it("serialises one key, runs different keys in parallel, and forgets idle keys", async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const step = (k: string, ms: number) =>
      m.run(k, async () => {
        log.push(`${k}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${k}-`);
      });
    const all = Promise.all([step("a", 20), step("a", 1), step("b", 5)]);
    assert.equal(m.busy("a"), true);
    await all;
    assert.deepEqual(log, ["a+", "b+", "b-", "a-", "a+", "a-"]);
    assert.equal(m.size, 0);
    assert.equal(m.busy("a"), false);
  });

  it("a failing holder releases the key", async () => {
    const m = new KeyedMutex();
    await assert.rejects(
      m.run("k", async () => {
        throw new Error("x");
      }),
      /x/,
    );
    await assert.rejects(
      m.run("k", () => {
        throw new Error("sync");
      }),
      /sync/,
    );
    assert.equal(await m.run("k", async () => 7), 7);
    assert.equal(m.size, 0);
  });

  it("acquire: waiters in arrival order; a second release does nothing", async () => {
    const m = new KeyedMutex<number>();
    const order: string[] = [];
    const first = await m.acquire(1);
    const waiters = ["b", "c", "d"].map((n) =>
      m.acquire(1).then((rel) => {
        order.push(n);
        rel();
        rel();
      }),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], "nobody runs while the key is held");
    first();
    first(); // would release a waiter's hold if it counted
    await Promise.all(waiters);
    assert.deepEqual(order, ["b", "c", "d"]);
    assert.equal(m.size, 0);
  });
});

describe("Mutex", () => {
  it("one holder at a time", async () => {
    const m = new Mutex();
    let inside = 0;
    let most = 0;
    await Promise.all(
      [1, 2, 3].map(() =>
        m.run(async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setImmediate(r));
          inside--;
        }),
      ),
    );
    assert.equal(most, 1);
    assert.equal(m.busy, false);
  });
});
