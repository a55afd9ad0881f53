// The in-memory fake behaves like the kernel where plugins depend on it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isExist, isKernelError, isNotFound } from "./errors.js";
import { createFakeKernel } from "./fake.js";

const POD = "/run/netns/pod1";

describe("fake kernel", () => {
  it("models a pod setup and dumps it deterministically", async () => {
    const k = createFakeKernel({ netns: [POD] });
    const host = k.netns(null);
    const pod = k.netns(POD);
    k.addNetns("/run/netns/node");
    await host.linkAddBridge("cni0", { mtu: 1450, up: true, mac: "0a:58:0a:c8:00:01" });
    await host.addrAdd("cni0", "10.200.0.1/24");
    await host.linkAddVeth("veth1", "tmp", {
      peerNetns: POD,
      mtu: 1450,
      mac: "0a:58:0a:c8:00:10",
      peerMac: "0a:58:0a:c8:00:02",
    });
    await host.linkSetMaster("veth1", "cni0");
    await host.linkSetHairpin("veth1", true);
    await host.linkSetUp("veth1");
    await pod.linkRename("tmp", "eth0");
    await pod.linkSetUp("lo");
    await pod.linkSetUp("eth0");
    await pod.addrAdd("eth0", "10.200.0.2/24");
    await pod.addrAdd("eth0", "fd00:200::2/64", { noDad: true });
    await pod.routeAdd({ dst: "default", gw: "10.200.0.1" });
    await pod.routeAdd({ dst: "::/0", gw: "fd00:200::1", dev: "eth0" });
    await k.sysctl.write(null, "net.ipv4.ip_forward", "1");

    assert.equal(
      k.dump(POD),
      [
        "link eth0 veth up mtu 1450 mac 0a:58:0a:c8:00:02 peer host/veth1",
        "link lo loopback up mtu 65536",
        "addr eth0 10.200.0.2/24",
        "addr eth0 fd00:200::2/64 nodad",
        "route 0.0.0.0/0 via 10.200.0.1 dev eth0",
        "route 10.200.0.0/24 dev eth0 scope link proto kernel",
        "route ::/0 via fd00:200::1 dev eth0",
        "route fd00:200::/64 dev eth0 proto kernel",
        "",
      ].join("\n"),
    );
    assert.match(
      k.dump(null),
      /^link veth1 veth up mtu 1450 mac 0a:58:0a:c8:00:10 master cni0 hairpin peer \/run\/netns\/pod1\/eth0$/m,
    );
    assert.match(k.dump(null), /^sysctl net\/ipv4\/ip_forward=1$/m);

    const l = await host.linkGet("veth1");
    const p = await pod.linkGet("eth0");
    assert.equal(l?.linkIndex, p?.index);
    assert.equal(l?.linkNetnsId, 0);
    assert.equal(l?.operstate, "up");
    assert.equal(l?.hairpin, true);
    assert.equal(l?.masterIndex, (await host.linkGet("cni0"))?.index);
    assert.deepEqual(
      (await pod.addrList("eth0", 4)).map((a) => [a.cidr, a.broadcast]),
      [["10.200.0.2/24", "10.200.0.255"]],
    );
    assert.ok(k.calls.includes("[/run/netns/pod1] ip link set dev tmp name eth0"));
    assert.ok(k.calls.includes("[host] bridge link set dev veth1 hairpin on"));
  });

  it("fails like the kernel: EEXIST, ENODEV, EADDRNOTAVAIL, ESRCH, ENETUNREACH, EBUSY", async () => {
    const k = createFakeKernel();
    const o = k.netns(null);
    await o.linkAddBridge("br0");
    await assert.rejects(o.linkAddBridge("br0"), isExist);
    await assert.rejects(o.linkSetUp("nope"), (e) => isKernelError(e, "ENODEV") && isNotFound(e));
    assert.equal(await o.linkGet("nope"), undefined);
    await assert.rejects(o.addrDel("br0", "10.200.0.1/24"), (e) => isKernelError(e, "EADDRNOTAVAIL"));
    await assert.rejects(o.routeDel({ dst: "10.200.0.0/24" }), (e) => isKernelError(e, "ESRCH"));
    await o.linkSetUp("br0");
    await o.addrAdd("br0", "10.200.0.1/24");
    await assert.rejects(o.addrAdd("br0", "10.200.0.1/24"), isExist);
    await assert.rejects(o.routeAdd({ dst: "10.200.9.0/24", gw: "10.99.0.1" }), (e) => isKernelError(e, "ENETUNREACH"));
    await o.routeAdd({ dst: "10.200.9.0/24", gw: "10.99.0.1", dev: "br0", onlink: true });
    await assert.rejects(o.linkRename("br0", "br1"), (e) => isKernelError(e, "EBUSY"));
    await assert.rejects(o.linkSetHairpin("br0", true), (e) => isKernelError(e, "EOPNOTSUPP"));
    await assert.rejects(o.linkSetMtu("br0", 10), (e) => isKernelError(e, "EINVAL"));
    await assert.rejects(k.netns("/run/netns/none").linkList(), (e) => isKernelError(e, "ENOENT"));
    await assert.rejects(k.sysctl.read(null, "net/ipv4/conf/nope/forwarding"), (e) => isKernelError(e, "ENOENT"));
    assert.equal(await k.sysctl.read(null, "net/ipv4/conf/br0/forwarding"), "0");
  });

  it("deletes both veth ends, drops state when a link moves or goes down", async () => {
    const k = createFakeKernel({ netns: [POD] });
    const host = k.netns(null);
    const pod = k.netns(POD);
    await host.linkAddVeth("veth0", "eth0", { peerNetns: POD });
    await host.linkSetUp("veth0");
    await host.addrAdd("veth0", "10.200.0.1/24");
    assert.equal((await host.routeList()).length, 1);
    await host.linkSetDown("veth0");
    assert.equal((await host.routeList()).length, 0);
    await host.linkSetNetns("veth0", POD, { newName: "eth1" });
    assert.deepEqual(await pod.addrList("eth1"), []);
    assert.equal((await pod.linkGet("eth1"))?.linkIndex, (await pod.linkGet("eth0"))?.index);
    await pod.linkDel("eth1");
    assert.equal(await pod.linkGet("eth0"), undefined);
    await host.linkAddVeth("veth2", "eth0", { peerNetns: POD });
    k.removeNetns(POD);
    assert.equal(await host.linkGet("veth2"), undefined);
    assert.equal(k.netnsExists(POD), false);
  });

  it("treats /proc/self/ns/net as the process's own netns", async () => {
    const k = createFakeKernel({ netns: [POD] });
    await k.netns(POD).linkAddVeth("eth0", "veth9", { peerNetns: "/proc/self/ns/net" });
    assert.equal((await k.netns(null).linkGet("veth9"))?.kind, "veth");
    assert.ok(k.netnsExists("/proc/self/ns/net"));
  });

  it("injects failures by call text", async () => {
    const k = createFakeKernel();
    k.failOn(/ip addr add .* dev br0/, "ENOSPC");
    await k.netns(null).linkAddBridge("br0");
    await assert.rejects(k.netns(null).addrAdd("br0", "10.200.0.1/24"), (e) => isKernelError(e, "ENOSPC"));
    await k.netns(null).addrAdd("br0", "10.200.0.1/24"); // only once
  });

  it("creates and deletes named namespaces, and queues locks", async () => {
    const k = createFakeKernel();
    const p = await k.netnsAdd("podnet-t-x");
    assert.equal(p, "/run/netns/podnet-t-x");
    assert.ok(k.netnsExists(p));
    await assert.rejects(k.netnsAdd("podnet-t-x"), isExist);
    await k.netnsDel("podnet-t-x");
    await k.netnsDel("podnet-t-x");
    assert.equal(k.netnsExists(p), false);

    const a = await k.lock("/var/lib/cni/networks/n");
    assert.equal(k.locks.get("/var/lib/cni/networks/n"), 1);
    await assert.rejects(k.lock("/var/lib/cni/networks/n", { nonBlocking: true }), (e) => isKernelError(e, "EAGAIN"));
    let got = false;
    const b = k.lock("/var/lib/cni/networks/n").then((l) => {
      got = true;
      return l;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(got, false);
    await a.release();
    await (await b).release();
    assert.equal(k.locks.size, 0);
  });
  it("models a vxlan device, its permanent neighbours and FDB entries, and flushes neighbours when it goes down", async () => {
    const k = createFakeKernel();
    const h = k.netns(null);
    await h.linkAddDummy("eth0", { up: true, mtu: 9000 });
    await h.addrAdd("eth0", "192.168.10.1/24");
    await h.linkAddVxlan("vx0", {
      vni: 1,
      local: "192.168.10.1",
      dev: "eth0",
      learning: false,
      mac: "0e:00:00:00:00:01",
    });
    const l = await h.linkGet("vx0");
    assert.deepEqual(
      [l?.kind, l?.mtu, l?.vxlan],
      ["vxlan", 8950, { vni: 1, local: "192.168.10.1", underlayIndex: 2, port: 4789, learning: false }],
    );
    await assert.rejects(h.linkAddVxlan("vx1", { vni: 1 << 24 }), RangeError);
    await assert.rejects(h.linkAddVxlan("vx1", { vni: 1, dev: "nope0" }), (e) => isKernelError(e, "ENODEV"));
    await h.linkSetUp("vx0");
    await h.neighReplace({ dev: "vx0", ip: "10.200.2.0", mac: "0e:00:00:00:00:02" });
    await h.neighReplace({ dev: "vx0", ip: "10.200.2.0", mac: "0E:00:00:00:00:03" }); // replace
    await h.fdbReplace({ dev: "vx0", mac: "0e:00:00:00:00:03", dst: "192.168.20.3" });
    await h.fdbReplace({ dev: "vx0", mac: "0e:00:00:00:00:03", dst: "192.168.20.4" }); // replace
    await assert.rejects(h.fdbReplace({ dev: "eth0", mac: "0e:00:00:00:00:03", dst: "192.168.20.4" }), (e) =>
      isKernelError(e, "EOPNOTSUPP"),
    );
    await assert.rejects(h.neighReplace({ dev: "vx0", ip: "10.200.2.0", mac: "zz" }), RangeError);
    assert.deepEqual(
      (await h.neighList({ dev: "vx0" })).map((n) => [n.ip, n.mac, n.permanent]),
      [["10.200.2.0", "0e:00:00:00:00:03", true]],
    );
    assert.deepEqual(
      (await h.fdbList({ dev: "vx0" })).map((f) => [f.mac, f.dst, f.self, f.permanent]),
      [["0e:00:00:00:00:03", "192.168.20.4", true, true]],
    );
    assert.deepEqual(await h.neighList({ dev: "eth0" }), []);
    assert.equal(
      k.dump(null),
      [
        "link eth0 dummy up mtu 9000 mac 0a:fa:ce:00:00:01",
        "link lo loopback down mtu 65536",
        "link vx0 vxlan up mtu 8950 mac 0e:00:00:00:00:01 vxlan id 1 local 192.168.10.1 dev eth0 dstport 4789 nolearning",
        "addr eth0 192.168.10.1/24",
        "route 192.168.10.0/24 dev eth0 scope link proto kernel",
        "neigh 10.200.2.0 lladdr 0e:00:00:00:00:03 dev vx0 permanent",
        "fdb 0e:00:00:00:00:03 dev vx0 dst 192.168.20.4 self permanent",
        "",
      ].join("\n"),
    );
    await assert.rejects(
      h.fdbDel({ dev: "vx0", mac: "0e:00:00:00:00:03", dst: "192.168.20.9" }),
      (e) => isKernelError(e, "ENOENT") && isNotFound(e),
    );
    await h.linkSetDown("vx0");
    assert.deepEqual(await h.neighList(), [], "neighbours flushed, permanent ones too");
    assert.equal((await h.fdbList()).length, 1, "permanent FDB entries stay");
    await h.fdbDel({ dev: "vx0", mac: "0e:00:00:00:00:03" });
    await assert.rejects(h.neighDel({ dev: "vx0", ip: "10.200.2.0" }), (e) => isKernelError(e, "ENOENT"));
    await h.neighReplace({ dev: "vx0", ip: "10.200.2.0", mac: "0e:00:00:00:00:03" });
    await h.linkDel("vx0");
    assert.deepEqual([await h.neighList(), await h.fdbList()], [[], []], "gone with the link");
  });

  it("applies a batch change by change, with one result each", async () => {
    const k = createFakeKernel();
    const h = k.netns(null);
    await h.linkAddDummy("eth0", { up: true });
    await h.addrAdd("eth0", "192.168.10.1/24");
    k.failOn("ip route add 10.200.3.0/24", "ENOBUFS");
    const r = await h.batch([
      { op: "routeAdd", route: { dst: "10.200.2.0/24", gw: "192.168.10.2", protocol: 152 } },
      { op: "routeAdd", route: { dst: "10.200.2.0/24", gw: "192.168.10.3", protocol: 152 } },
      { op: "routeAdd", route: { dst: "10.200.3.0/24", gw: "192.168.10.3" } },
      { op: "routeReplace", route: { dst: "10.200.2.0/24", gw: "192.168.10.4", protocol: 152 } },
      { op: "routeDel", route: { dst: "10.200.9.0/24", protocol: 152 } },
    ]);
    assert.deepEqual(
      r.map((e) => e && (e as { errno?: string }).errno),
      [undefined, "EEXIST", "ENOBUFS", undefined, "ESRCH"],
    );
    assert.deepEqual(
      (await h.routeList({ protocol: 152 })).map((x) => [x.dst, x.gw]),
      [["10.200.2.0/24", "192.168.10.4"]],
    );
    assert.ok(k.calls.includes("[host] ip -force -batch - (5 changes)"));
  });

  it("answers `ip route get` with the longest prefix, its device and source address", async () => {
    const k = createFakeKernel();
    const h = k.netns(null);
    await h.linkAddDummy("eth0", { up: true });
    await h.addrAdd("eth0", "192.168.10.1/24");
    await h.linkAddDummy("eth1", { up: true });
    await h.addrAdd("eth1", "172.16.0.1/16");
    assert.equal(await h.routeGet("8.8.8.8"), undefined);
    await h.routeAdd({ dst: "default", gw: "192.168.10.254" });
    await h.routeAdd({ dst: "8.8.0.0/16", gw: "172.16.0.254" });
    assert.deepEqual(await h.routeGet("1.1.1.1"), {
      dev: "eth0",
      ifindex: 2,
      table: 254,
      src: "192.168.10.1",
      gw: "192.168.10.254",
    });
    assert.deepEqual(await h.routeGet("8.8.8.8"), {
      dev: "eth1",
      ifindex: 3,
      table: 254,
      src: "172.16.0.1",
      gw: "172.16.0.254",
    });
    assert.deepEqual(await h.routeGet("192.168.10.7"), { dev: "eth0", ifindex: 2, table: 254, src: "192.168.10.1" });
    await assert.rejects(h.routeGet("nope"), RangeError);
  });
});
