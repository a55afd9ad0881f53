// Route operations against the real kernel, checked with `ip -json route`.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isExist, isKernelError, isNotFound } from "./errors.js";
import { netnsSkip, withTempNetns, type TempNetns } from "./testing.js";

async function podWithAddrs(ns: TempNetns) {
  const o = ns.ops;
  await o.linkAddVeth("eth0", "peer0");
  await o.linkSetUp("peer0");
  await o.linkSetUp("eth0");
  await o.addrAdd("eth0", "10.200.0.2/24");
  await o.addrAdd("eth0", "fd00:200::2/64", { noDad: true });
}

describe("routes (real kernel)", { skip: netnsSkip() }, () => {
  it("adds default routes via gateways (v4 and v6) and a scope-link route", () =>
    withTempNetns(async (ns) => {
      await podWithAddrs(ns);
      const o = ns.ops;
      await o.routeAdd({ dst: "default", gw: "10.200.0.1" });
      await o.routeAdd({ dst: "::/0", gw: "fd00:200::1", dev: "eth0" });
      await o.routeAdd({ dst: "10.200.5.0/24", dev: "eth0" });
      await o.routeAdd({ dst: "10.200.6.0/24", gw: "10.200.0.1", metric: 50, protocol: 77, src: "10.200.0.2" });

      const j4 = await ns.ipJson("-4", "route", "show");
      assert.deepEqual(
        j4.find((r) => r.dst === "default"),
        { dst: "default", gateway: "10.200.0.1", dev: "eth0", flags: [] },
      );
      assert.equal(j4.find((r) => r.dst === "10.200.5.0/24").scope, "link");
      const r6 = j4.find((r) => r.dst === "10.200.6.0/24");
      assert.equal(r6.metric, 50);
      assert.equal(r6.protocol, "77");
      assert.equal(r6.prefsrc, "10.200.0.2");
      const j6 = await ns.ipJson("-6", "route", "show");
      assert.equal(j6.find((r) => r.dst === "default").gateway, "fd00:200::1");

      const routes = await o.routeList();
      const def4 = routes.find((r) => r.family === 4 && r.dst === "0.0.0.0/0");
      assert.deepEqual(
        { gw: def4?.gw, dev: def4?.dev, scope: def4?.scope, table: def4?.table, type: def4?.type },
        { gw: "10.200.0.1", dev: "eth0", scope: "universe", table: 254, type: "unicast" },
      );
      assert.equal(routes.find((r) => r.dst === "10.200.5.0/24")?.scope, "link");
      assert.equal(routes.find((r) => r.dst === "10.200.6.0/24")?.protocol, 77);
      assert.equal(routes.find((r) => r.family === 6 && r.dst === "::/0")?.gw, "fd00:200::1");
      // filters
      assert.deepEqual((await o.routeList({ dst: "default" })).map((r) => r.family).sort(), [4, 6]);
      assert.deepEqual(
        (await o.routeList({ family: 4, protocol: 77 })).map((r) => r.dst),
        ["10.200.6.0/24"],
      );
      assert.deepEqual(await o.routeList({ dev: "peer0", family: 4 }), []);
      assert.ok((await o.routeList({ table: 255 })).some((r) => r.type === "local" && r.dst === "10.200.0.2/32"));
    }));

  it("replaces, deletes, uses other tables and onlink gateways", () =>
    withTempNetns(async (ns) => {
      await podWithAddrs(ns);
      const o = ns.ops;
      await o.routeAdd({ dst: "10.200.7.0/24", gw: "10.200.0.1" });
      await o.routeReplace({ dst: "10.200.7.0/24", gw: "10.200.0.3" });
      assert.equal((await ns.ipJson("route", "show", "10.200.7.0/24"))[0].gateway, "10.200.0.3");
      await o.routeReplace({ dst: "10.200.8.0/24", gw: "10.200.0.3" }); // replace creates
      await o.routeAdd({ dst: "10.200.9.0/24", dev: "eth0", table: 100 });
      await o.routeAdd({ dst: "default", gw: "10.99.0.1", dev: "eth0", onlink: true, table: 1000 });
      assert.equal((await ns.ipJson("route", "show", "table", "100"))[0].dst, "10.200.9.0/24");
      const [t1000] = await ns.ipJson("route", "show", "table", "1000");
      assert.ok(t1000.flags.includes("onlink"));
      assert.equal((await o.routeList({ table: 1000 }))[0]?.table, 1000);
      assert.equal(((await o.routeList({ table: 1000 }))[0]?.flags ?? 0) & 4, 4);

      await o.routeDel({ dst: "10.200.7.0/24" });
      await o.routeDel({ dst: "10.200.9.0/24", table: 100 });
      await o.routeDel({ dst: "default", table: 1000 });
      assert.deepEqual(await ns.ipJson("route", "show", "10.200.7.0/24"), []);
      assert.deepEqual(await ns.ipJson("route", "show", "table", "100"), []);
    }));

  it("an IPv4-mapped IPv6 prefix stays IPv6: netlink says AF_INET6 and iproute2 prints ::ffff:a.b.c.d", () =>
    withTempNetns(async (ns) => {
      await podWithAddrs(ns);
      const o = ns.ops;
      await o.routeAdd({ dst: "::ffff:10.200.9.0/120", dev: "eth0" });
      await o.addrAdd("eth0", "::ffff:10.200.9.1/128", { noDad: true });
      const [j] = await ns.ipJson("-6", "route", "show", "::ffff:10.200.9.0/120");
      assert.equal(j.dst, "::ffff:10.200.9.0/120");
      const r = (await o.routeList({ family: 6 })).find((x) => x.dst.endsWith("/120"));
      // Go's net.IP.String() would print 10.200.9.0 — and lose the family on the way back.
      assert.deepEqual({ family: r?.family, dst: r?.dst }, { family: 6, dst: "::ffff:10.200.9.0/120" });
      const a = (await o.addrList("eth0", 6)).find((x) => x.address.startsWith("::ffff:"));
      assert.deepEqual({ family: a?.family, cidr: a?.cidr }, { family: 6, cidr: "::ffff:10.200.9.1/128" });
      // What was read back names the same objects.
      await o.routeDel({ dst: r!.dst, dev: "eth0" });
      await o.addrDel("eth0", a!.cidr);
      assert.deepEqual(await ns.ipJson("-6", "route", "show", "::ffff:10.200.9.0/120"), []);
      assert.equal(
        (await o.addrList("eth0", 6)).some((x) => x.address.startsWith("::ffff:")),
        false,
      );
    }));

  it("reports EEXIST, ESRCH, ENODEV and unreachable gateways", () =>
    withTempNetns(async (ns) => {
      await podWithAddrs(ns);
      const o = ns.ops;
      await o.routeAdd({ dst: "10.200.7.0/24", gw: "10.200.0.1" });
      await assert.rejects(o.routeAdd({ dst: "10.200.7.0/24", gw: "10.200.0.1" }), (e) => {
        assert.ok(isExist(e));
        assert.match(
          String((e as Error).message),
          /^netlink RTM_NEWROUTE 10\.200\.7\.0\/24 via 10\.200\.0\.1: File exists \(EEXIST\)/,
        );
        return true;
      });
      await assert.rejects(o.routeDel({ dst: "10.200.77.0/24" }), (e) => isKernelError(e, "ESRCH") && isNotFound(e));
      await assert.rejects(o.routeAdd({ dst: "10.200.8.0/24", dev: "nope0" }), (e) => isKernelError(e, "ENODEV"));
      await assert.rejects(o.routeAdd({ dst: "10.200.8.0/24", gw: "10.99.0.1" }), (e) => {
        assert.ok(isKernelError(e), String(e));
        assert.notEqual((e as { extack: string }).extack, "");
        return true;
      });
      await assert.rejects(o.routeAdd({ dst: "default" }), (e) => isKernelError(e)); // no gateway, no device
      await assert.rejects(o.routeAdd({ dst: "10.200.8.0/24", gw: "fd00:200::1" }), RangeError);
    }));
});
