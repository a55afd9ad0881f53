// kubenet's netlink shaper against the real kernel: what a crash leaves on cbr0 (a class made
// ahead of its filter) is found and removed by a restarted daemon, and verify() sees what is there.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openTcNetlink } from "../../../kernel/tc-netlink.js";
import { netnsSkip, withTempNetns } from "../../../kernel/testing.js";
import { createShaper } from "./shaper.js";

const classIds = (show: string) => [...show.matchAll(/^class htb (\S+) /gm)].map((m) => m[1]).sort();

describe("netlink shaper (real kernel)", { skip: netnsSkip() }, () => {
  it("a class left without its filter by a crash is collected after a restart; live limits stay and verify", () =>
    withTempNetns(async (ns) => {
      await ns.ops.linkAddBridge("cbr0");
      await ns.ops.linkSetUp("cbr0");
      const before = openTcNetlink(ns.path);
      const after = openTcNetlink(ns.path);
      try {
        const crashed = createShaper(before, "cbr0");
        await crashed.reconcileInterface();
        await crashed.reconcileCIDR("10.200.0.2/32", 2_000_000, 1_000_000); // a live pod: classes 1:1, 1:2
        crashed.prepare!(undefined, 3_000_000); // 1:3, for a pod whose set-up never finished
        await ns.exec("tc", "class", "add", "dev", "cbr0", "parent", "1:", "classid", "1:7", "htb", "rate", "1mbit");
        assert.deepEqual(classIds(await ns.exec("tc", "class", "show", "dev", "cbr0")), ["1:1", "1:2", "1:3", "1:7"]);

        const restarted = createShaper(after, "cbr0");
        await restarted.reconcileInterface();
        assert.deepEqual(await restarted.removeOrphanClasses!(), ["1:3", "1:7"]);
        assert.deepEqual(classIds(await ns.exec("tc", "class", "show", "dev", "cbr0")), ["1:1", "1:2"]);
        assert.deepEqual(await restarted.getCIDRs(), ["10.200.0.2/32"]);
        assert.deepEqual(await restarted.verify!("10.200.0.2/32", 2_000_000, 1_000_000), []);

        await ns.exec("tc", "filter", "del", "dev", "cbr0", "parent", "1:", "prio", "1");
        assert.deepEqual(await restarted.verify!("10.200.0.2/32", 2_000_000, 1_000_000), [
          "the ingress limit of 10.200.0.2/32 has no tc filter on cbr0",
          "the egress limit of 10.200.0.2/32 has no tc filter on cbr0",
        ]);
        assert.deepEqual(await restarted.removeOrphanClasses!(), ["1:1", "1:2"], "their filters are gone: orphans too");
        assert.equal(await ns.exec("tc", "class", "show", "dev", "cbr0"), "");
      } finally {
        before.close();
        after.close();
      }
    }));
});
