import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createFakeTcNetlink } from "../../../kernel/tc-netlink-fake.js";
import { ETH_P } from "../../../kernel/tc-netlink.js";
import {
  asciiCIDR,
  asTcFilter,
  cidrIndexKey,
  cidrKeys,
  cidrsOfFilters,
  createShaper,
  firstFreeClass,
  hexCIDR,
  hexCIDR6Words,
  htbRate,
} from "./shaper.js";

const writes = (calls: string[]) => calls.filter((c) => /^(add|delete)/.test(c));

describe("tc helpers", () => {
  it("hexCIDR / asciiCIDR", () => {
    assert.equal(hexCIDR("10.0.0.2/32"), "0a000002/ffffffff");
    assert.equal(hexCIDR("10.0.0.1/24"), "0a000000/ffffff00");
    assert.equal(asciiCIDR("0a000002/ffffffff"), "10.0.0.2/32");
    assert.equal(asciiCIDR("0a000000/ffffff00"), "10.0.0.0/24");
    assert.deepEqual(hexCIDR6Words("fd00:200::5/128"), [
      "fd000200/ffffffff",
      "00000000/ffffffff",
      "00000000/ffffffff",
      "00000005/ffffffff",
    ]);
    assert.deepEqual(hexCIDR6Words("fd00:200::/64"), ["fd000200/ffffffff", "00000000/ffffffff"]);
  });
  it("filters as tc prints them, and the CIDRs they limit", () => {
    const f = [
      { protocol: ETH_P.IP, prio: 1, handle: 0x80000800, classid: 0x10001, keys: cidrKeys("10.0.0.2/32", "dst") },
      { protocol: ETH_P.IP, prio: 1, handle: 0x8000080a, classid: 0x10010, keys: cidrKeys("10.0.0.3/32", "src") },
      { protocol: ETH_P.IPV6, prio: 2, handle: 0x80100800, classid: 0x10002, keys: cidrKeys("fd00:200::5/128", "dst") },
    ].map(asTcFilter);
    assert.deepEqual(
      f.map((x) => [x.protocol, x.prio, x.handle, x.flowid]),
      [
        ["ip", 1, "800::800", "1:1"],
        ["ip", 1, "800::80a", "1:10"],
        ["ipv6", 2, "801::800", "1:2"],
      ],
    );
    assert.deepEqual(f[2]!.matches, [
      { key: "fd000200/ffffffff", at: 24 },
      { key: "00000000/ffffffff", at: 28 },
      { key: "00000000/ffffffff", at: 32 },
      { key: "00000005/ffffffff", at: 36 },
    ]);
    assert.deepEqual(cidrsOfFilters(f), ["10.0.0.2/32", "10.0.0.3/32", "fd00:200::5/128"]);
  });
  it("rates are floor(bits/1000) kbit", () => assert.equal(htbRate(10_485_760), 10485 * 125));
});

describe("netlink shaper over a fake TcNetlink", () => {
  it("keys and class ids as tc builds them", () => {
    assert.deepEqual(cidrKeys("10.0.0.2/32", "dst"), [{ val: 0x0a000002, mask: 0xffffffff, off: 16 }]);
    assert.deepEqual(cidrKeys("10.0.0.2/32", "src"), [{ val: 0x0a000002, mask: 0xffffffff, off: 12 }]);
    assert.deepEqual(
      cidrKeys("fd00:200::5/128", "dst").map((k) => k.off),
      [24, 28, 32, 36],
    );
    assert.deepEqual(
      cidrKeys("fd00:200::/64", "src").map((k) => [k.val, k.off]),
      [
        [0xfd000200, 8],
        [0, 12],
      ],
    );
    assert.equal(cidrIndexKey("fd00:200:0::5/128"), cidrIndexKey("fd00:200::5/128"));
    assert.equal(firstFreeClass(new Set()), 0x10001);
    // "1:10" after "1:9": tc reads the digits as hex, as the kubelet's tc calls did
    assert.equal(firstFreeClass(new Set([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => 0x10000 + i))), 0x10010);
  });

  it("reconcileInterface: htb 1: on noqueue, replaces another root qdisc, leaves htb 1: alone", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const sh = createShaper(tc, "cbr0");
    await sh.reconcileInterface();
    assert.deepEqual(tc.qdiscs("cbr0"), [{ kind: "htb", handle: 0x10000, parent: 0xffffffff }]);
    tc.calls.length = 0;
    await sh.reconcileInterface();
    assert.deepEqual(writes(tc.calls), []);
    await assert.rejects(createShaper(tc, "nope0").reconcileInterface(), (e: Error) => /ENODEV/.test(e.message));
  });

  it("limits both directions with one class + filter each; never updates; reset and getCIDRs", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const sh = createShaper(tc, "cbr0");
    await sh.reconcileInterface();
    tc.calls.length = 0;
    await sh.reconcileCIDR("10.0.0.2/32", 2_000_000, 1_000_999);
    assert.deepEqual(writes(tc.calls), [
      "addHtbClass cbr0 10001 125000",
      "addHtbClass cbr0 10002 250000",
      "addU32Filter cbr0 prio 1 a000002/ffffffff@16 10001",
      "addU32Filter cbr0 prio 1 a000002/ffffffff@12 10002",
    ]);
    tc.calls.length = 0;
    await sh.reconcileCIDR("10.0.0.2/32", 5000, 5000);
    assert.deepEqual(writes(tc.calls), [], "an existing limit is left as it is");
    await sh.reconcileCIDR("fd00:200::5/128", undefined, 3_000_000);
    const v6 = tc.u32Filters("cbr0", 0x10000).filter((f) => f.protocol === ETH_P.IPV6);
    assert.deepEqual(
      v6.map((f) => [f.prio, f.classid, f.keys.length]),
      [[2, 0x10003, 4]],
    );
    assert.deepEqual((await sh.getCIDRs()).sort(), ["10.0.0.2/32", "fd00:200::5/128"]);
    await sh.reset("10.0.0.2/32");
    assert.deepEqual(await sh.getCIDRs(), ["fd00:200::5/128"]);
    assert.deepEqual(
      tc.classes("cbr0").map((c) => c.handle),
      [0x10003],
    );
    await assert.rejects(sh.reset("10.9.9.9/32"), /Failed to find cidr: 10.9.9.9\/32 on interface: cbr0/);
    // freed class ids are reused first
    await sh.reconcileCIDR("10.0.0.7/32", undefined, 1_000_000);
    assert.deepEqual(
      tc
        .classes("cbr0")
        .map((c) => c.handle)
        .sort(),
      [0x10001, 0x10003],
    );
  });

  it("reads the kernel's filters and classes once, not per pod; what was there before is found", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    await createShaper(tc, "cbr0").reconcileInterface();
    tc.addHtbClass("cbr0", 0x10000, 0x10001, 125);
    tc.addU32Filter("cbr0", {
      parent: 0x10000,
      prio: 1,
      protocol: ETH_P.IP,
      keys: cidrKeys("10.0.0.9/32", "dst"),
      classid: 0x10001,
    });
    const sh = createShaper(tc, "cbr0"); // a restarted daemon
    for (let i = 2; i < 50; i++) await sh.reconcileCIDR(`10.0.1.${i}/32`, 1_000_000, 1_000_000);
    for (let i = 2; i < 50; i++) await sh.reset(`10.0.1.${i}/32`);
    assert.equal(sh.reads, 1);
    assert.equal(tc.calls.filter((c) => /^(u32Filters|classes)/.test(c)).length, 2);
    await sh.reset("10.0.0.9/32"); // the limit from before the restart
    assert.deepEqual(tc.classes("cbr0"), []);
  });

  it("changes behind its back: a taken class id or a vanished filter make it read the kernel again", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const sh = createShaper(tc, "cbr0");
    await sh.reconcileInterface();
    await sh.reconcileCIDR("10.0.0.2/32", undefined, 1_000_000);
    tc.addHtbClass("cbr0", 0x10000, 0x10002, 125); // someone else's class
    await sh.reconcileCIDR("10.0.0.3/32", undefined, 1_000_000);
    assert.deepEqual(
      tc
        .classes("cbr0")
        .map((c) => c.handle)
        .sort(),
      [0x10001, 0x10002, 0x10003],
    );
    const f = tc.u32Filters("cbr0", 0x10000).find((x) => x.classid === 0x10001)!;
    tc.deleteU32Filter("cbr0", { parent: 0x10000, ...f });
    tc.deleteClass("cbr0", 0x10000, 0x10001);
    await sh.reset("10.0.0.2/32"); // already gone: no error
    const reads = sh.reads;
    await sh.reconcileCIDR("10.0.0.4/32", undefined, 1_000_000);
    assert.equal(sh.reads, reads + 1);
    assert.deepEqual(
      tc
        .classes("cbr0")
        .map((c) => c.handle)
        .sort(),
      [0x10001, 0x10002, 0x10003],
    );
  });

  it("prepare: the classes before the address is known, the filters on commit; cancel drops them", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const sh = createShaper(tc, "cbr0");
    await sh.reconcileInterface();
    const p = sh.prepare!(2_000_000, 1_000_000);
    assert.deepEqual(
      tc.classes("cbr0").map((c) => c.handle),
      [0x10001, 0x10002],
    );
    assert.deepEqual(tc.u32Filters("cbr0", 0x10000), []);
    await p.commit("10.0.0.2/32");
    assert.deepEqual(
      tc.u32Filters("cbr0", 0x10000).map((f) => [f.keys[0]!.off, f.classid]),
      [
        [16, 0x10001],
        [12, 0x10002],
      ],
    );
    await assert.rejects(p.commit("10.0.0.3/32"), /used already/);
    await p.cancel(); // after commit: nothing
    assert.equal(tc.classes("cbr0").length, 2);
    const q = sh.prepare!(undefined, 1_000_000);
    await q.cancel();
    assert.equal(tc.classes("cbr0").length, 2, "cancelled: its class is gone");
    const r = sh.prepare!(undefined, 1_000_000);
    await r.commit("10.0.0.2/32"); // limited already: never updated, the new class goes
    assert.equal(tc.classes("cbr0").length, 2);
    await sh.reset("10.0.0.2/32");
    assert.deepEqual(tc.classes("cbr0"), []);
  });

  it("a filter that cannot be added takes its class back with it", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const sh = createShaper(tc, "cbr0");
    await sh.reconcileInterface();
    const add = tc.addU32Filter;
    tc.addU32Filter = () => {
      throw new Error("injected");
    };
    await assert.rejects(sh.reconcileCIDR("10.0.0.2/32", undefined, 1_000_000), /injected/);
    assert.deepEqual(tc.classes("cbr0"), []);
    tc.addU32Filter = add;
  });

  it("removeOrphanClasses: classes no filter points to go, classes prepared for a set-up in flight stay", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const sh = createShaper(tc, "cbr0");
    await sh.reconcileInterface();
    await sh.reconcileCIDR("10.0.0.2/32", 1_000_000, 1_000_000);
    tc.addHtbClass("cbr0", 0x10000, 0x10009, 125); // left by a crash between a class and its filter
    const inFlight = sh.prepare!(undefined, 1_000_000);
    assert.deepEqual(await sh.removeOrphanClasses!(), ["1:9"]);
    assert.deepEqual(
      tc
        .classes("cbr0")
        .map((c) => c.handle)
        .sort(),
      [0x10001, 0x10002, 0x10003],
    );
    await inFlight.commit("10.0.0.3/32");
    assert.deepEqual(await sh.removeOrphanClasses!(), []);
    assert.deepEqual(await sh.getCIDRs(), ["10.0.0.2/32", "10.0.0.3/32"]);
  });

  it("verify: a filter and its class per limited direction", async () => {
    const tc = createFakeTcNetlink(["cbr0"]);
    const sh = createShaper(tc, "cbr0");
    await sh.reconcileInterface();
    await sh.reconcileCIDR("10.0.0.2/32", 2_000_000, 1_000_000);
    await sh.reconcileCIDR("fd00:200::5/128", undefined, 1_000_000);
    assert.deepEqual(await sh.verify!("10.0.0.2/32", 2_000_000, 1_000_000), []);
    assert.deepEqual(await sh.verify!("fd00:200::5/128", undefined, 1_000_000), []);
    assert.deepEqual(await sh.verify!("fd00:200::5/128", 1_000_000, 1_000_000), [
      "the egress limit of fd00:200::5/128 has no tc filter on cbr0",
    ]);
    assert.deepEqual(await sh.verify!("10.0.0.9/32", undefined, 1_000_000), [
      "the ingress limit of 10.0.0.9/32 has no tc filter on cbr0",
    ]);
    assert.deepEqual(await createShaper(tc, "nope0").verify!("10.0.0.2/32", undefined, 1), [
      "nope0 is missing, and with it the limits of 10.0.0.2/32",
    ]);
  });
});
