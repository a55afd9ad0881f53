// Address operations against the real kernel, checked with `ip -json addr`.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isExist, isKernelError, isNotFound } from "./errors.js";
import { netnsSkip, withTempNetns } from "./testing.js";

describe("addresses (real kernel)", { skip: netnsSkip() }, () => {
  it("adds IPv4 (with broadcast) and IPv6 (nodad) addresses and lists them", () =>
    withTempNetns(async (ns) => {
      const o = ns.ops;
      await o.linkAddVeth("eth0", "peer0");
      await o.linkSetUp("eth0");
      await o.addrAdd("eth0", "10.200.0.2/24");
      await o.addrAdd("eth0", "fd00:200::2/64", { noDad: true });
      await o.addrAdd("eth0", "10.200.1.2/31", { broadcast: false, label: "eth0:1" });
      const [j] = await ns.ipJson("addr", "show", "eth0");
      const info = j.addr_info as Array<{
        local: string;
        prefixlen: number;
        broadcast?: string;
        scope: string;
        nodad?: boolean;
        tentative?: boolean;
        label?: string;
      }>;
      const v4 = info.find((a) => a.local === "10.200.0.2");
      assert.equal(v4?.prefixlen, 24);
      assert.equal(v4?.broadcast, "10.200.0.255");
      assert.equal(v4?.scope, "global"); // iproute2's name for RT_SCOPE_UNIVERSE
      const v6 = info.find((a) => a.local === "fd00:200::2");
      assert.equal(v6?.nodad, true);
      assert.equal(v6?.tentative, undefined);
      assert.equal(info.find((a) => a.local === "10.200.1.2")?.label, "eth0:1");

      const ours = await o.addrList("eth0");
      const a4 = ours.find((a) => a.address === "10.200.0.2");
      assert.deepEqual(
        { cidr: a4?.cidr, family: a4?.family, dev: a4?.dev, broadcast: a4?.broadcast, scope: a4?.scope },
        { cidr: "10.200.0.2/24", family: 4, dev: "eth0", broadcast: "10.200.0.255", scope: "universe" },
      );
      const a6 = ours.find((a) => a.address === "fd00:200::2");
      assert.equal(a6?.noDad, true);
      assert.equal(a6?.tentative, false);
      assert.equal(a6?.family, 6);
      assert.deepEqual((await o.addrList("eth0", 4)).map((a) => a.cidr).sort(), ["10.200.0.2/24", "10.200.1.2/31"]);
      assert.ok((await o.addrList("eth0", 6)).every((a) => a.family === 6));
      // all links: lo's addresses are there too once it is up
      await o.linkSetUp("lo");
      const all = await o.addrList();
      assert.ok(all.some((a) => a.dev === "lo" && a.address === "127.0.0.1" && a.scope === "host"));
    }));

  it("rejects duplicates, replaces, deletes, and reports missing ones", () =>
    withTempNetns(async (ns) => {
      const o = ns.ops;
      await o.linkAddIfb("ifb0");
      await o.addrAdd("ifb0", "10.200.0.2/24");
      await assert.rejects(o.addrAdd("ifb0", "10.200.0.2/24"), (e) => {
        assert.ok(isExist(e));
        assert.match((e as Error).message, /netlink RTM_NEWADDR 10\.200\.0\.2\/24 dev "ifb0": File exists \(EEXIST\)/);
        return true;
      });
      await o.addrReplace("ifb0", "10.200.0.2/24");
      await o.addrDel("ifb0", "10.200.0.2/24");
      assert.deepEqual(await ns.ipJson("-4", "addr", "show", "ifb0").then((x) => x[0]?.addr_info ?? []), []);
      await assert.rejects(
        o.addrDel("ifb0", "10.200.0.2/24"),
        (e) => isKernelError(e, "EADDRNOTAVAIL") && isNotFound(e),
      );
      await assert.rejects(o.addrAdd("nope0", "10.200.0.2/24"), (e) => isKernelError(e, "ENODEV"));
      await assert.rejects(o.addrAdd("ifb0", "10.200.0.300/24"), RangeError);
    }));
});
