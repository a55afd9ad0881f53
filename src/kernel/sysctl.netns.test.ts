// sysctl and netns checks against the real kernel. Only the test netns is ever written.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKernelError } from "./errors.js";
import { createKernel } from "./kernel.js";
import { netnsSkip, withTempNetns } from "./testing.js";

describe("sysctl and netns (real kernel)", { skip: netnsSkip() }, () => {
  it("writes and reads net sysctls inside one netns only", () =>
    withTempNetns(async (ns) => {
      const k = ns.kernel;
      const hostBefore = await k.sysctl.read(null, "net/ipv4/ip_forward");
      assert.equal(await k.sysctl.read(ns.path, "net/ipv4/ip_forward"), "0");
      await k.sysctl.write(ns.path, "net/ipv4/ip_forward", "1");
      assert.equal(await k.sysctl.read(ns.path, "net.ipv4.ip_forward"), "1");
      assert.equal((await ns.exec("cat", "/proc/sys/net/ipv4/ip_forward")).trim(), "1");
      assert.equal(await k.sysctl.read(null, "net/ipv4/ip_forward"), hostBefore);

      // per-interface keys, with a dotted interface name in the slash form
      await ns.ops.linkAddIfb("ifb0.5");
      await k.sysctl.write(ns.path, "net/ipv6/conf/ifb0.5/accept_dad", "0");
      assert.equal((await ns.exec("sysctl", "-n", "net/ipv6/conf/ifb0.5/accept_dad")).trim(), "0");
    }));

  it("reports missing keys and missing namespaces", () =>
    withTempNetns(async (ns) => {
      const k = ns.kernel;
      await assert.rejects(k.sysctl.read(ns.path, "net/ipv4/conf/nope0/forwarding"), (e) => isKernelError(e, "ENOENT"));
      await assert.rejects(k.sysctl.read("/run/netns/podnet-t-missing", "net/ipv4/ip_forward"), (e) =>
        isKernelError(e, "ENOENT"),
      );
      await assert.rejects(k.sysctl.read(ns.path, "../../etc/passwd"), RangeError);
    }));

  it("tells namespace files from other paths", () =>
    withTempNetns(async (ns) => {
      const k = createKernel();
      assert.equal(k.netnsExists(ns.path), true);
      assert.equal(k.netnsExists("/proc/self/ns/net"), true);
      assert.equal(k.netnsExists("/etc/hostname"), false);
      assert.equal(k.netnsExists("/run/netns/podnet-t-missing"), false);
      await ns.delete();
      assert.equal(k.netnsExists(ns.path), false);
    }));
});
