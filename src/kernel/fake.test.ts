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
    await host.linkAddVeth("veth1", "tmp", { peerNetns: POD, mtu: 1450, mac: "0a:58:0a:c8:00:10", peerMac: "0a:58:0a:c8:00:02" });
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

    assert.equal(k.dump(POD), [
      "link eth0 veth up mtu 1450 mac 0a:58:0a:c8:00:02 peer host/veth1",
      "link lo loopback up mtu 65536",
      "addr eth0 10.200.0.2/24",
      "addr eth0 fd00:200::2/64 nodad",
      "route 0.0.0.0/0 via 10.200.0.1 dev eth0",
      "route 10.200.0.0/24 dev eth0 scope link proto kernel",
      "route ::/0 via fd00:200::1 dev eth0",
      "route fd00:200::/64 dev eth0 proto kernel",
      "",
    ].join("\n"));
    assert.match(k.dump(null), /^link veth1 veth up mtu 1450 mac 0a:58:0a:c8:00:10 master cni0 hairpin peer \/run\/netns\/pod1\/eth0$/m);
    assert.match(k.dump(null), /^sysctl net\/ipv4\/ip_forward=1$/m);

    const l = await host.linkGet("veth1");
    const p = await pod.linkGet("eth0");
    assert.equal(l?.linkIndex, p?.index);
    assert.equal(l?.linkNetnsId, 0);
    assert.equal(l?.operstate, "up");
    assert.equal(l?.hairpin, true);
    assert.equal(l?.masterIndex, (await host.linkGet("cni0"))?.index);
    assert.deepEqual((await pod.addrList("eth0", 4)).map((a) => [a.cidr, a.broadcast]), [["10.200.0.2/24", "10.200.0.255"]]);
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
    const b = k.lock("/var/lib/cni/networks/n").then((l) => ((got = true), l));
    await new Promise((r) => setImmediate(r));
    assert.equal(got, false);
    await a.release();
    await (await b).release();
    assert.equal(k.locks.size, 0);
  });
});

