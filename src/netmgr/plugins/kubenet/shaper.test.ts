import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { asciiCIDR, cidrsOfFilters, createTcShaper, findCIDRFilters, hexCIDR, hexCIDR6Words, kbitRate, nextClassID, parseTcFilters } from "./shaper.js";
import { createFakeExec } from "../../testing/fakes.js";

// `tc filter show dev cbr0` on iproute2 6.x (with "chain 0" and "*flowid", kubernetes#76064)
const FILTERS = `filter parent 1: protocol ip pref 1 u32 chain 0 
filter parent 1: protocol ip pref 1 u32 chain 0 fh 800: ht divisor 1 
filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid 1:1 not_in_hw 
  match 0a000002/ffffffff at 16
filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::80a order 2058 key ht 800 bkt 0 *flowid 1:10 not_in_hw 
  match 0a000003/ffffffff at 12
filter parent 1: protocol ipv6 pref 2 u32 chain 0 
filter parent 1: protocol ipv6 pref 2 u32 chain 0 fh 801: ht divisor 1 
filter parent 1: protocol ipv6 pref 2 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 *flowid 1:2 not_in_hw 
  match fd000200/ffffffff at 24
  match 00000000/ffffffff at 28
  match 00000000/ffffffff at 32
  match 00000005/ffffffff at 36
`;

describe("tc helpers", () => {
  it("hexCIDR / asciiCIDR", () => {
    assert.equal(hexCIDR("10.0.0.2/32"), "0a000002/ffffffff");
    assert.equal(hexCIDR("10.0.0.1/24"), "0a000000/ffffff00");
    assert.equal(asciiCIDR("0a000002/ffffffff"), "10.0.0.2/32");
    assert.equal(asciiCIDR("0a000000/ffffff00"), "10.0.0.0/24");
    assert.deepEqual(hexCIDR6Words("fd00:200::5/128"), ["fd000200/ffffffff", "00000000/ffffffff", "00000000/ffffffff", "00000005/ffffffff"]);
    assert.deepEqual(hexCIDR6Words("fd00:200::/64"), ["fd000200/ffffffff", "00000000/ffffffff"]);
  });
  it("parses filters by pattern, hex handles included", () => {
    const f = parseTcFilters(FILTERS);
    assert.deepEqual(f.map((x) => [x.protocol, x.prio, x.handle, x.flowid]), [["ip", 1, "800::800", "1:1"], ["ip", 1, "800::80a", "1:10"], ["ipv6", 2, "801::800", "1:2"]]);
    assert.deepEqual(findCIDRFilters(f, "10.0.0.3/32").map((x) => x.handle), ["800::80a"]);
    assert.deepEqual(findCIDRFilters(f, "fd00:200::5/128").map((x) => x.flowid), ["1:2"]);
    assert.deepEqual(findCIDRFilters(f, "10.0.0.9/32"), []);
    assert.deepEqual(cidrsOfFilters(f), ["10.0.0.2/32", "10.0.0.3/32", "fd00:200::5/128"]);
  });
  it("next class id, and bad output is an error", () => {
    assert.equal(nextClassID(""), "1:1");
    assert.equal(nextClassID("class htb 1:1 root prio 0 rate 1Mbit\nclass htb 1:2 root rate 2Mbit\n"), "1:3");
    assert.throws(() => nextClassID("garbage"), /unexpected output from tc: garbage/);
  });
  it("rates are floor(bits/1000) kbit", () => assert.equal(kbitRate(10_485_760), "10485kbit"));
});

describe("tc shaper over a fake exec", () => {
  it("reconcileInterface adds htb 1: on a noqueue interface and replaces another root qdisc", async () => {
    const exec = createFakeExec([["tc qdisc show", "qdisc noqueue 0: root refcnt 2\n"]]);
    await createTcShaper(exec, "cbr0").reconcileInterface();
    assert.deepEqual(exec.calls, ["tc qdisc show dev cbr0", "tc qdisc add dev cbr0 root handle 1: htb default 30"]);
    const e2 = createFakeExec([["tc qdisc show", "qdisc fq_codel 8001: root refcnt 2 limit 10240p flows 1024\n"]]);
    await createTcShaper(e2, "cbr0").reconcileInterface();
    assert.deepEqual(e2.calls.slice(1), ["tc qdisc delete dev cbr0 root handle 8001:", "tc qdisc add dev cbr0 root handle 1: htb default 30"]);
    const e3 = createFakeExec([["tc qdisc show", "qdisc htb 1: root refcnt 2 r2q 10 default 0x30 direct_packets_stat 0 direct_qlen 1000\n"]]);
    await createTcShaper(e3, "cbr0").reconcileInterface();
    assert.equal(e3.calls.length, 1);
  });
  it("limit: one class + filter per direction; never updated; reset deletes them", async () => {
    const exec = createFakeExec([["tc filter show", ""], ["tc class show", ""]]);
    const sh = createTcShaper(exec, "cbr0");
    await sh.reconcileCIDR("10.0.0.2/32", 2_000_000, 1_000_000);
    assert.deepEqual(exec.calls.filter((c) => / add /.test(c)), [
      "tc class add dev cbr0 parent 1: classid 1:1 htb rate 1000kbit",
      "tc filter add dev cbr0 protocol ip parent 1:0 prio 1 u32 match ip dst 10.0.0.2/32 flowid 1:1",
      "tc class add dev cbr0 parent 1: classid 1:1 htb rate 2000kbit",
      "tc filter add dev cbr0 protocol ip parent 1:0 prio 1 u32 match ip src 10.0.0.2/32 flowid 1:1",
    ]);
    exec.on("tc filter show", FILTERS);
    exec.calls.length = 0;
    await sh.reconcileCIDR("10.0.0.2/32", 5, 5);
    assert.deepEqual(exec.calls, ["tc filter show dev cbr0"]);
    exec.calls.length = 0;
    await sh.reset("fd00:200::5/128");
    assert.deepEqual(exec.calls.slice(1), ["tc filter del dev cbr0 parent 1: proto ipv6 prio 2 handle 801::800 u32", "tc class del dev cbr0 parent 1: classid 1:2"]);
    await assert.rejects(sh.reset("10.9.9.9/32"), /Failed to find cidr: 10.9.9.9\/32 on interface: cbr0/);
  });
  it("IPv6 addresses get ip6 filters at prio 2", async () => {
    const exec = createFakeExec([["tc filter show", ""], ["tc class show", ""]]);
    await createTcShaper(exec, "cbr0").reconcileCIDR("fd00:200::5/128", undefined, 1_000_000);
    assert.ok(exec.calls.includes("tc filter add dev cbr0 protocol ipv6 parent 1:0 prio 2 u32 match ip6 dst fd00:200::5/128 flowid 1:1"));
  });
});
