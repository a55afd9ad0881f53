// tc over netlink against the real kernel, with `tc` itself as the oracle: what we add reads back
// in tc's own output exactly as if tc had added it, and what tc adds we read and delete.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKernelError } from "./errors.js";
import { ETH_P, openTcNetlink, parseTcHandle, TC_H_ROOT } from "./tc-netlink.js";
import { netnsSkip, withTempNetns } from "./testing.js";

const keyOf = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);

describe("tc over netlink (real kernel)", { skip: netnsSkip() }, () => {
  it("htb root qdisc, classes and u32 filters read back in tc's output as tc's own would", () =>
    withTempNetns(async (ns) => {
      await ns.ops.linkAddBridge("cbr0");
      await ns.ops.linkAddBridge("ref0");
      await ns.ops.linkSetUp("cbr0");
      await ns.ops.linkSetUp("ref0");
      const tc = openTcNetlink(ns.path);
      try {
        assert.deepEqual(
          tc.qdiscs("cbr0").map((q) => q.kind),
          ["noqueue"],
        );
        tc.addHtbRootQdisc("cbr0", parseTcHandle("1:"), 0x30);
        await ns.exec("tc", "qdisc", "add", "dev", "ref0", "root", "handle", "1:", "htb", "default", "30");
        const show = async (what: string, dev: string) =>
          (await ns.exec("tc", what, "show", "dev", dev))
            .replace(/ref0/g, "cbr0")
            .replace(/direct_packets_stat \d+/, "");
        assert.equal(await show("qdisc", "cbr0"), await show("qdisc", "ref0"));
        assert.deepEqual(tc.qdiscs("cbr0"), [{ kind: "htb", handle: 0x10000, parent: TC_H_ROOT }]);

        // rates as kubenet gives them: floor(bits/1000) kbit → bytes/s; small, odd, and > 32 bits
        const rates = [1, 5000, 10_000, 123_457, 40_000_000, 1_000_000_000_000];
        for (const [i, kbit] of rates.entries()) {
          tc.addHtbClass("cbr0", 0x10000, 0x10001 + i, kbit * 125);
          await ns.exec(
            "tc",
            "class",
            "add",
            "dev",
            "ref0",
            "parent",
            "1:",
            "classid",
            `1:${(i + 1).toString(16)}`,
            "htb",
            "rate",
            `${kbit}kbit`,
          );
        }
        assert.equal(await show("class", "cbr0"), await show("class", "ref0"));
        assert.deepEqual(
          tc
            .classes("cbr0")
            .map((c) => c.handle)
            .sort(),
          rates.map((_, i) => 0x10001 + i),
        );

        const handles: number[] = [];
        handles.push(
          tc.addU32Filter("cbr0", {
            parent: 0x10000,
            prio: 1,
            protocol: ETH_P.IP,
            keys: [{ val: keyOf("10.200.0.2"), mask: 0xffffffff, off: 16 }],
            classid: 0x10001,
          }),
        );
        handles.push(
          tc.addU32Filter(tc.ifindex("cbr0"), {
            parent: 0x10000,
            prio: 1,
            protocol: ETH_P.IP,
            keys: [{ val: keyOf("10.200.0.2"), mask: 0xffffffff, off: 12 }],
            classid: 0x10002,
          }),
        );
        handles.push(
          tc.addU32Filter("cbr0", {
            parent: 0x10000,
            prio: 2,
            protocol: ETH_P.IPV6,
            keys: [
              { val: 0xfd000200, mask: 0xffffffff, off: 24 },
              { val: 0, mask: 0xffffffff, off: 28 },
              { val: 0, mask: 0xffffffff, off: 32 },
              { val: 2, mask: 0xffffffff, off: 36 },
            ],
            classid: 0x10003,
          }),
        );
        // the kernel's echo carries each new filter's handle
        assert.deepEqual(
          handles,
          tc.u32Filters("cbr0", 0x10000).map((f) => f.handle),
        );
        assert.ok(handles.every((h) => (h & 0xfff) !== 0));
        const tcf = (...a: string[]) => ns.exec("tc", "filter", "add", "dev", "ref0", ...a);
        await tcf(
          "protocol",
          "ip",
          "parent",
          "1:0",
          "prio",
          "1",
          "u32",
          "match",
          "ip",
          "dst",
          "10.200.0.2/32",
          "flowid",
          "1:1",
        );
        await tcf(
          "protocol",
          "ip",
          "parent",
          "1:0",
          "prio",
          "1",
          "u32",
          "match",
          "ip",
          "src",
          "10.200.0.2/32",
          "flowid",
          "1:2",
        );
        await tcf(
          "protocol",
          "ipv6",
          "parent",
          "1:0",
          "prio",
          "2",
          "u32",
          "match",
          "ip6",
          "dst",
          "fd00:200::2/128",
          "flowid",
          "1:3",
        );
        assert.equal(await show("filter", "cbr0"), await show("filter", "ref0"));

        // reading what tc made
        const theirs = openTcNetlink(ns.path).u32Filters("ref0", 0x10000);
        assert.deepEqual(
          theirs.map((f) => [
            f.protocol,
            f.prio,
            f.classid,
            f.keys.map((k) => `${k.val.toString(16)}/${k.mask.toString(16)}@${k.off}`).join(" "),
          ]),
          [
            [ETH_P.IP, 1, 0x10001, "ac80002/ffffffff@16"],
            [ETH_P.IP, 1, 0x10002, "ac80002/ffffffff@12"],
            [ETH_P.IPV6, 2, 0x10003, "fd000200/ffffffff@24 0/ffffffff@28 0/ffffffff@32 2/ffffffff@36"],
          ],
        );

        // deleting ours: filters, then classes; tc's output is empty again
        for (const f of tc.u32Filters("cbr0", 0x10000)) tc.deleteU32Filter("cbr0", { parent: 0x10000, ...f });
        for (const c of tc.classes("cbr0")) tc.deleteClass("cbr0", 0x10000, c.handle);
        assert.doesNotMatch(await ns.exec("tc", "filter", "show", "dev", "cbr0"), /match|flowid/); // the u32 hash tables stay, as with tc
        assert.equal((await ns.exec("tc", "class", "show", "dev", "cbr0")).trim(), "");

        // errors carry the errno
        assert.throws(
          () => tc.deleteClass("cbr0", 0x10000, 0x10009),
          (e) => isKernelError(e, "ENOENT"),
        );
        assert.throws(
          () => tc.addHtbRootQdisc("cbr0", 0x10000, 0x30),
          (e) => isKernelError(e, "EEXIST"),
        );
        assert.throws(
          () => tc.classes("nope0"),
          (e) => isKernelError(e, "ENODEV"),
        );
        tc.deleteRootQdisc("cbr0", 0x10000);
        assert.deepEqual(
          tc.qdiscs("cbr0").map((q) => q.kind),
          ["noqueue"],
        );
      } finally {
        tc.close();
      }
    }));
});
