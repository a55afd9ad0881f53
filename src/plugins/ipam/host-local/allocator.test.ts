import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { CniError } from "../../../cni/index.js";
import { formatIP, parseIP } from "../../../ip/index.js";
import { IPAllocator, rangeIter } from "./allocator.js";
import { inProcessLock } from "./lock.js";
import type { RangeInput } from "./range.js";
import { canonicalizeRangeSet } from "./range-set.js";
import { Store } from "./store.js";
import { withTempDir } from "./testing.js";

const set = (...rs: RangeInput[]) => canonicalizeRangeSet(rs);
const order = (rs: ReturnType<typeof set>, last?: string) =>
  [...rangeIter(rs, last ? parseIP(last) : undefined)].map((a) => formatIP(a.ip));

describe("rangeIter: round-robin order (Go RangeIter)", () => {
  it("starts at rangeStart and skips the gateway", () => {
    assert.deepEqual(order(set({ subnet: "10.1.0.0/29" })), [
      "10.1.0.2",
      "10.1.0.3",
      "10.1.0.4",
      "10.1.0.5",
      "10.1.0.6",
    ]);
  });
  it("starts after the last reserved IP and wraps around to it", () => {
    assert.deepEqual(order(set({ subnet: "10.1.0.0/29" }), "10.1.0.4"), [
      "10.1.0.5",
      "10.1.0.6",
      "10.1.0.2",
      "10.1.0.3",
      "10.1.0.4",
    ]);
    assert.deepEqual(order(set({ subnet: "10.1.0.0/29" }), "10.1.0.6"), [
      "10.1.0.2",
      "10.1.0.3",
      "10.1.0.4",
      "10.1.0.5",
      "10.1.0.6",
    ]);
  });
  it("ignores a last reserved IP outside the set (range indexes changed)", () => {
    assert.deepEqual(order(set({ subnet: "10.1.0.0/30" }), "10.9.0.1"), ["10.1.0.2"]);
    assert.deepEqual(order(set({ subnet: "10.1.0.0/30" }), "fd00::1"), ["10.1.0.2"]);
  });
  it("walks several ranges in order, wrapping from the last to the first", () => {
    const rs = set(
      { subnet: "10.1.0.0/30" },
      { subnet: "10.2.0.0/24", rangeStart: "10.2.0.10", rangeEnd: "10.2.0.11", gateway: "10.2.0.11" },
    );
    assert.deepEqual(order(rs), ["10.1.0.2", "10.2.0.10"]);
    assert.deepEqual(order(rs, "10.1.0.2"), ["10.2.0.10", "10.1.0.2"]);
    assert.deepEqual(order(rs, "10.2.0.10"), ["10.1.0.2", "10.2.0.10"]);
  });
  it("a gateway inside rangeStart..rangeEnd elsewhere, and IPv6", () => {
    assert.deepEqual(order(set({ subnet: "10.1.0.0/29", gateway: "10.1.0.4" })), [
      "10.1.0.1",
      "10.1.0.2",
      "10.1.0.3",
      "10.1.0.5",
      "10.1.0.6",
    ]);
    assert.deepEqual(order(set({ subnet: "fd00::/126" })), ["fd00::2", "fd00::3"]);
  });
  it("terminates when the only address is the gateway", () => {
    assert.deepEqual(order(set({ subnet: "10.1.0.0/30", rangeStart: "10.1.0.1", rangeEnd: "10.1.0.1" })), []);
  });
});

describe("IPAllocator over a temp-dir store", () => {
  const withAlloc = (rs: ReturnType<typeof set>, fn: (a: IPAllocator, s: Store) => Promise<void>) =>
    withTempDir(async (d) => {
      const s = await Store.open(fs, inProcessLock(), d, "net1");
      await fn(new IPAllocator(rs, s, 0), s);
    });

  it("hands out addresses round robin, skipping taken ones, then reports exhaustion with Go's message (code 11)", () =>
    withAlloc(set({ subnet: "10.1.0.0/29" }), async (a, s) => {
      await fs.writeFile(join(s.dir, "10.1.0.3"), "other\r\neth0");
      const got: string[] = [];
      for (let i = 0; i < 4; i++) got.push(formatIP((await a.get(`c${i}`, "eth0")).ip));
      assert.deepEqual(got, ["10.1.0.2", "10.1.0.4", "10.1.0.5", "10.1.0.6"]);
      await assert.rejects(a.get("c9", "eth0"), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, 11);
        assert.equal(e.message, "no IP addresses available in range set: 10.1.0.1-10.1.0.6");
        return true;
      });
      // a freed address comes back only after the cycle: last was .6, so .2 is next
      await s.releaseByID("c0", "eth0");
      assert.equal(formatIP((await a.get("c10", "eth0")).ip), "10.1.0.2");
    }));

  it("refuses a second address for the same attachment in the same range set", () =>
    withAlloc(set({ subnet: "10.1.0.0/29" }), async (a) => {
      await a.get("c1", "eth0");
      await assert.rejects(
        a.get("c1", "eth0"),
        /^10\.1\.0\.2 has been allocated to c1, duplicate allocation is not allowed$/,
      );
      assert.equal(formatIP((await a.get("c1", "eth1")).ip), "10.1.0.3");
    }));

  it("requested IPs: taken, gateway, outside the set, mapped form", () =>
    withAlloc(set({ subnet: "10.1.0.0/29" }), async (a) => {
      const r = await a.get("c1", "eth0", parseIP("::ffff:10.1.0.5"));
      assert.equal(formatIP(r.ip), "10.1.0.5");
      assert.equal(formatIP(r.range.gateway), "10.1.0.1");
      await assert.rejects(
        a.get("c2", "eth0", parseIP("10.1.0.5")),
        /requested IP address 10\.1\.0\.5 is not available in range set 10\.1\.0\.1-10\.1\.0\.6/,
      );
      await assert.rejects(a.get("c2", "eth0", parseIP("10.1.0.1")), /requested ip 10\.1\.0\.1 is subnet's gateway/);
      await assert.rejects(
        a.get("c2", "eth0", parseIP("10.1.0.7")),
        /10\.1\.0\.7 not in range set 10\.1\.0\.1-10\.1\.0\.6/,
      );
      // the next free-running allocation continues after the requested one
      assert.equal(formatIP((await a.get("c3", "eth0")).ip), "10.1.0.6");
    }));
});
