// vxlan links, neighbours, FDB entries, batches and `ip route get` against the real kernel, with
// `ip -json` and `bridge -json` as the oracle.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKernelError, isNotFound } from "./errors.js";
import { netnsSkip, withTempNetns, type TempNetns } from "./testing.js";
import type { NetBatchOp } from "./types.js";

const MAC1 = "0e:00:00:00:00:01";
const MAC2 = "0e:00:00:00:00:02";

/** An underlay (a bridge: no module needed) with IPv4 and IPv6 addresses, and vx0 on it. */
async function node(ns: TempNetns) {
  const o = ns.ops;
  await o.linkAddBridge("ul0", { up: true, mtu: 1500 });
  await o.addrAdd("ul0", "10.200.1.1/24");
  await o.addrAdd("ul0", "fd00:200:1::1/64", { noDad: true });
  await o.linkAddVxlan("vx0", {
    vni: 7,
    local: "10.200.1.1",
    dev: "ul0",
    learning: false,
    mtu: 1450,
    mac: MAC1,
    up: true,
  });
}

describe("vxlan links, neighbours, FDB entries (real kernel)", { skip: netnsSkip() }, () => {
  it("creates a vxlan link and reads its attributes back", () =>
    withTempNetns(async (ns) => {
      await node(ns);
      const [j] = await ns.ipJson("-d", "link", "show", "vx0");
      const d = j.linkinfo.info_data;
      assert.deepEqual(
        [j.linkinfo.info_kind, d.id, d.local, d.link, d.port, d.learning, j.mtu, j.address],
        ["vxlan", 7, "10.200.1.1", "ul0", 4789, false, 1450, MAC1],
      );
      const l = await ns.ops.linkGet("vx0");
      const ul = await ns.ops.linkGet("ul0");
      assert.deepEqual(l?.vxlan, {
        vni: 7,
        local: "10.200.1.1",
        underlayIndex: ul!.index,
        port: 4789,
        learning: false,
      });
      assert.equal(l?.mac, MAC1);
      // defaults: learning on (the kernel's), port 4789 (not the kernel's 8472); IPv6 local
      await ns.ops.linkAddVxlan("vx1", { vni: 8, local: "fd00:200:1::1" });
      assert.deepEqual((await ns.ops.linkGet("vx1"))?.vxlan, {
        vni: 8,
        local: "fd00:200:1::1",
        port: 4789,
        learning: true,
      });
      await assert.rejects(ns.ops.linkAddVxlan("vx2", { vni: 9, dev: "nope0" }), (e) => isKernelError(e, "ENODEV"));
      await assert.rejects(ns.ops.linkAddVxlan("vx2", { vni: -1 }), RangeError);
      await assert.rejects(ns.ops.linkAddVxlan("vx2", { vni: 9, port: 70000 }), RangeError);
    }));

  it("replaces and deletes permanent neighbours (IPv4, IPv6) and FDB entries; lists only the device's", () =>
    withTempNetns(async (ns) => {
      await node(ns);
      const o = ns.ops;
      await o.neighReplace({ dev: "vx0", ip: "10.244.2.0", mac: MAC2 });
      await o.neighReplace({ dev: "vx0", ip: "10.244.2.0", mac: MAC2 }); // idempotent
      await o.neighReplace({ dev: "vx0", ip: "fd00:244:0:2::", mac: MAC2 });
      await o.neighReplace({ dev: "ul0", ip: "10.200.1.9", mac: "0e:00:00:00:00:09" });
      await o.fdbReplace({ dev: "vx0", mac: MAC2, dst: "10.200.2.1" });
      await o.fdbReplace({ dev: "vx0", mac: MAC2, dst: "10.200.3.1" }); // replaces the remote

      const jn = await ns.ipJson("neigh", "show", "dev", "vx0");
      assert.deepEqual(jn.map((n) => [n.dst, n.lladdr, n.state]).sort(), [
        ["10.244.2.0", MAC2, ["PERMANENT"]],
        ["fd00:244:0:2::", MAC2, ["PERMANENT"]],
      ]);
      const jf = JSON.parse(await ns.exec("bridge", "-json", "fdb", "show", "dev", "vx0"));
      assert.deepEqual(
        jf.map((f: { mac: string; dst: string; flags: string[]; state: string }) => [f.mac, f.dst, f.flags, f.state]),
        [[MAC2, "10.200.3.1", ["self"], "permanent"]],
      );

      // the kernel's own entries (e.g. NOARP ff02::16 for MLD) are listed too, not permanent
      const n = (await o.neighList({ dev: "vx0" })).filter((x) => x.permanent);
      assert.deepEqual(n.map((x) => [x.family, x.ip, x.mac, x.permanent]).sort(), [
        [4, "10.244.2.0", MAC2, true],
        [6, "fd00:244:0:2::", MAC2, true],
      ]);
      assert.deepEqual(
        (await o.neighList({ dev: "vx0", family: 6 })).filter((x) => x.permanent).map((x) => x.ip),
        ["fd00:244:0:2::"],
      );
      assert.deepEqual(await o.neighList({ dev: "vx0", family: 4 }).then((l) => l.map((x) => x.ip)), ["10.244.2.0"]);
      assert.ok((await o.neighList()).some((x) => x.dev === "ul0" && x.ip === "10.200.1.9"));
      const f = await o.fdbList({ dev: "vx0" });
      assert.deepEqual(
        f.map((x) => [x.dev, x.mac, x.dst, x.self, x.permanent]),
        [["vx0", MAC2, "10.200.3.1", true, true]],
      );
      assert.deepEqual(await o.fdbList({ dev: "nope0" }), []);
      assert.deepEqual(await o.neighList({ dev: "nope0" }), []);

      await o.neighDel({ dev: "vx0", ip: "10.244.2.0" });
      await o.fdbDel({ dev: "vx0", mac: MAC2, dst: "10.200.3.1" });
      await assert.rejects(
        o.neighDel({ dev: "vx0", ip: "10.244.2.0" }),
        (e) =>
          isKernelError(e, "ENOENT") &&
          isNotFound(e) &&
          /RTM_DELNEIGH 10\.244\.2\.0 dev "vx0"/.test((e as Error).message),
      );
      await assert.rejects(o.fdbDel({ dev: "vx0", mac: MAC2 }), (e) => isKernelError(e, "ENOENT"));
      await assert.rejects(o.neighReplace({ dev: "nope0", ip: "10.244.2.0", mac: MAC2 }), (e) =>
        isKernelError(e, "ENODEV"),
      );
      await assert.rejects(o.fdbReplace({ dev: "vx0", mac: "nope", dst: "10.200.3.1" }), RangeError);
      assert.deepEqual(await ns.ipJson("-4", "neigh", "show", "dev", "vx0"), []);
    }));

  it("applies a batch of 1,000 routes plus neighbour and FDB changes, one result each, in chunks", () =>
    withTempNetns(async (ns) => {
      await node(ns);
      const changes: NetBatchOp[] = [
        { op: "fdbReplace", fdb: { dev: "vx0", mac: MAC2, dst: "10.200.2.1" } },
        { op: "neighReplace", neigh: { dev: "vx0", ip: "10.244.2.0", mac: MAC2 } },
        {
          op: "routeReplace",
          route: { dst: "10.244.2.0/24", gw: "10.244.2.0", dev: "vx0", onlink: true, protocol: 152 },
        },
      ];
      for (let i = 0; i < 1000; i++)
        changes.push({
          op: "routeAdd",
          route: { dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, gw: "10.200.1.2", protocol: 152 },
        });
      changes.push({ op: "routeAdd", route: { dst: "10.100.0.0/24", gw: "10.200.1.3", protocol: 152 } }); // EEXIST
      changes.push({ op: "routeDel", route: { dst: "10.99.0.0/24", protocol: 152 } }); // ESRCH
      const r = await ns.ops.batch(changes);
      assert.equal(r.length, changes.length);
      assert.deepEqual(r.map((e, i) => e && [i, (e as { errno?: string }).errno]).filter(Boolean), [
        [1003, "EEXIST"],
        [1004, "ESRCH"],
      ]);
      const routes = await ns.ipJson("route", "show", "proto", "152");
      assert.equal(routes.length, 1001);
      const vx = routes.find((x) => x.dst === "10.244.2.0/24");
      assert.deepEqual([vx.gateway, vx.dev, vx.flags], ["10.244.2.0", "vx0", ["onlink"]]);
      assert.equal((await ns.ops.routeList({ protocol: 152 })).length, 1001);
      // deleted by destination and protocol only
      const del = await ns.ops.batch(
        routes.map((x) => ({ op: "routeDel" as const, route: { dst: x.dst, protocol: 152 } })),
      );
      assert.ok(del.every((e) => e === undefined));
      assert.deepEqual(await ns.ipJson("route", "show", "proto", "152"), []);
    }));

  it("a route deleted with a protocol never matches another protocol's route", () =>
    withTempNetns(async (ns) => {
      await node(ns);
      await ns.ops.routeAdd({ dst: "10.244.5.0/24", gw: "10.200.1.5", protocol: 4 });
      await ns.ops.routeAdd({ dst: "fd00:244:0:5::/64", gw: "fd00:200:1::5", protocol: 4 });
      const r = await ns.ops.batch([
        { op: "routeDel", route: { dst: "10.244.5.0/24", protocol: 152 } },
        { op: "routeDel", route: { dst: "fd00:244:0:5::/64", protocol: 152 } },
      ]);
      assert.deepEqual(
        r.map((e) => (e as { errno?: string } | undefined)?.errno),
        ["ESRCH", "ESRCH"],
      );
      assert.equal((await ns.ipJson("route", "show", "10.244.5.0/24"))[0]?.protocol, "static");
      assert.equal((await ns.ipJson("-6", "route", "show", "fd00:244:0:5::/64"))[0]?.protocol, "static");
    }));

  it("route get: device, source address and gateway of the kernel's own lookup", () =>
    withTempNetns(async (ns) => {
      await node(ns);
      assert.equal(await ns.ops.routeGet("8.8.8.8"), undefined);
      await ns.ops.routeAdd({ dst: "default", gw: "10.200.1.254" });
      await ns.ops.routeAdd({ dst: "::/0", gw: "fd00:200:1::fe" });
      const ul = await ns.ops.linkGet("ul0");
      assert.deepEqual(await ns.ops.routeGet("8.8.8.8"), {
        dev: "ul0",
        ifindex: ul!.index,
        src: "10.200.1.1",
        gw: "10.200.1.254",
        table: 254,
      });
      assert.match(await ns.ip("route", "get", "8.8.8.8"), /via 10\.200\.1\.254 dev ul0 src 10\.200\.1\.1/);
      const r6 = await ns.ops.routeGet("2001:4860:4860::8888");
      assert.deepEqual([r6?.dev, r6?.src, r6?.gw], ["ul0", "fd00:200:1::1", "fd00:200:1::fe"]);
    }));
});
