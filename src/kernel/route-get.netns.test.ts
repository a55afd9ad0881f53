// `ip route get` over netlink against the real kernel, `ip route get` itself as the oracle.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openRouteGet } from "./route-get.js";
import { netnsSkip, withTempNetns } from "./testing.js";

describe("route get over netlink (real kernel)", { skip: netnsSkip() }, () => {
  it("names the output device of the kernel's own lookup; no route: undefined", () =>
    withTempNetns(async (ns) => {
      await ns.ops.linkAddBridge("pt-rg0", { up: true });
      await ns.ops.addrAdd("pt-rg0", "10.200.7.1/24");
      await ns.ops.linkAddBridge("pt-rg1", { up: true });
      await ns.ops.addrAdd("pt-rg1", "fd00:200:7::1/64");
      const rg = openRouteGet(ns.path);
      try {
        assert.equal(rg.outputDevice("10.200.7.5"), "pt-rg0");
        assert.match(await ns.ip("route", "get", "10.200.7.5"), /dev pt-rg0/);
        assert.equal(rg.outputDevice("fd00:200:7::5"), "pt-rg1");
        assert.equal(rg.outputDevice("10.200.8.5"), undefined, "no default route");
      } finally {
        rg.close();
      }
    }));
});
