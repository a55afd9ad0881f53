// Link operations against the real kernel, checked with `ip -json` inside throwaway namespaces.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isExist, isKernelError, isNotFound } from "./errors.js";
import { netnsSkip, withTempNetns } from "./testing.js";

const skip = netnsSkip();

describe("links (real kernel)", { skip }, () => {
  it("creates a veth with its peer in another netns", () =>
    withTempNetns(async (host, pod) => {
      await host.ops.linkAddVeth("veth0", "eth0", {
        peerNetns: pod.path,
        mtu: 1400,
        mac: "0a:58:0a:c8:00:01",
        peerMac: "0a:58:0a:c8:00:02",
      });
      const [h] = await host.ipJson("-d", "link", "show", "veth0");
      const [p] = await pod.ipJson("-d", "link", "show", "eth0");
      assert.equal(h.linkinfo.info_kind, "veth");
      assert.equal(h.mtu, 1400);
      assert.equal(p.mtu, 1400);
      assert.equal(h.address, "0a:58:0a:c8:00:01");
      assert.equal(p.address, "0a:58:0a:c8:00:02");
      assert.equal(typeof h.link_netnsid, "number");

      const l = await host.ops.linkGet("veth0");
      const peer = await pod.ops.linkGet("eth0");
      assert.ok(l && peer);
      assert.equal(l.index, h.ifindex);
      assert.equal(l.kind, "veth");
      assert.equal(l.mac, h.address);
      assert.equal(l.linkIndex, peer.index);
      assert.equal(peer.linkIndex, l.index);
      assert.equal(l.linkNetnsId, h.link_netnsid);
      assert.equal(l.up, false);
      assert.equal(l.operstate, "down");
      assert.equal(await host.ops.linkGet("eth0"), undefined);

      // deleting one end deletes the other, in its own netns
      await host.ops.linkDel("veth0");
      assert.deepEqual(await pod.ipJson("link", "show", "type", "veth"), []);
    }, 2));

  it("moves a link into another netns, renaming it on the way", () =>
    withTempNetns(async (host, pod) => {
      await host.ops.linkAddVeth("vethA", "tmpB");
      await host.ops.linkSetNetns("tmpB", pod.path, { newName: "eth0" });
      assert.equal(await host.ops.linkGet("tmpB"), undefined);
      const [p] = await pod.ipJson("link", "show", "eth0");
      assert.equal(p.ifname, "eth0");
      await pod.ops.linkSetNetns("eth0", host.path);
      assert.equal((await host.ops.linkGet("eth0"))?.kind, "veth");
    }, 2));

  it("builds a bridge with an up port: master, mtu, mac, hairpin, promisc, learning", () =>
    withTempNetns(async (ns) => {
      const o = ns.ops;
      await o.linkAddBridge("br0", { mtu: 1450, mac: "0a:58:0a:c8:00:ff", up: true });
      await o.linkAddVeth("veth0", "veth1");
      await o.linkSetMtu("veth0", 1450);
      await o.linkSetMac("veth0", "0a:58:0a:c8:00:0a");
      await o.linkSetMaster("veth0", "br0");
      await o.linkSetHairpin("veth0", true);
      await o.linkSetLearning("veth0", false);
      await o.linkSetPromisc("br0", true);
      await o.linkSetUp("veth0");
      await o.linkSetUp("veth1");

      const [br] = await ns.ipJson("-d", "link", "show", "br0");
      const [v] = await ns.ipJson("-d", "link", "show", "veth0");
      assert.equal(br.linkinfo.info_kind, "bridge");
      assert.equal(br.mtu, 1450);
      assert.equal(br.address, "0a:58:0a:c8:00:ff");
      assert.ok(br.flags.includes("PROMISC"));
      assert.ok(br.flags.includes("UP"));
      assert.equal(v.master, "br0");
      assert.equal(v.mtu, 1450);
      assert.equal(v.address, "0a:58:0a:c8:00:0a");
      assert.equal(v.linkinfo.info_slave_kind, "bridge");
      assert.equal(v.linkinfo.info_slave_data.hairpin, true);
      assert.equal(v.linkinfo.info_slave_data.learning, false);
      assert.equal(v.operstate, "UP");

      const b = await o.linkGet("br0");
      const p = await o.linkGet("veth0");
      assert.ok(b && p);
      assert.equal(b.promisc, true);
      assert.equal(b.vlanFiltering, false);
      assert.equal(p.masterIndex, b.index);
      assert.equal(p.slaveKind, "bridge");
      assert.equal(p.hairpin, true);
      assert.equal(p.learning, false);
      assert.equal(p.up, true);
      assert.equal(p.operstate, "up");

      await o.linkSetHairpin("veth0", false);
      await o.linkSetPromisc("br0", false);
      await o.linkSetMaster("veth0", null);
      const [v2] = await ns.ipJson("-d", "link", "show", "veth0");
      assert.equal(v2.master, undefined);
      assert.equal((await o.linkGet("veth0"))?.masterIndex, undefined);
      assert.equal((await o.linkGet("br0"))?.promisc, false);
    }));

  it("sets down, renames, sets alias and txqueuelen, lists, deletes", () =>
    withTempNetns(async (ns) => {
      const o = ns.ops;
      await o.linkAddIfb("ifb0", { up: true });
      assert.equal((await o.linkGet("ifb0"))?.up, true);
      await o.linkSetDown("ifb0"); // kernels before 6.2 refuse to rename an up link (EBUSY)
      await o.linkRename("ifb0", "ifb1");
      await o.linkSetAlias("ifb1", "podnet test");
      await o.linkSetTxQLen("ifb1", 77);
      const [j] = await ns.ipJson("link", "show", "ifb1");
      assert.equal(j.ifalias, "podnet test");
      assert.equal(j.txqlen, 77);
      const l = await o.linkGet("ifb1");
      assert.equal(l?.alias, "podnet test");
      assert.equal(l?.txQLen, 77);
      assert.equal(l?.kind, "ifb");

      const listed = await o.linkList();
      const ipList = await ns.ipJson("link", "show");
      assert.deepEqual(
        listed.map((x) => [x.index, x.name]),
        ipList.map((x) => [x.ifindex, x.ifname]),
      );
      assert.equal(listed.find((x) => x.name === "lo")?.kind, "loopback");
      assert.equal((await o.linkGetByIndex(l!.index))?.name, "ifb1");
      assert.equal(await o.linkGetByIndex(9999), undefined);

      await o.linkDel("ifb1");
      assert.equal(await o.linkGet("ifb1"), undefined);
    }));

  it("reports EEXIST and ENODEV with the operation and errno", () =>
    withTempNetns(async (ns) => {
      const o = ns.ops;
      await o.linkAddBridge("br0");
      await assert.rejects(o.linkAddBridge("br0"), (e) => {
        assert.ok(isExist(e));
        assert.equal(e.errnum, 17);
        assert.match(e.message, /^netlink RTM_NEWLINK bridge "br0": File exists \(EEXIST\)/);
        return true;
      });
      await assert.rejects(o.linkAddVeth("br0", "x1"), isExist);
      for (const f of [
        () => o.linkSetUp("nope0"),
        () => o.linkDel("nope0"),
        () => o.linkSetMaster("br0", "nope0"),
        () => o.linkRename("nope0", "x"),
        () => o.linkSetMtu("nope0", 1400),
      ]) {
        await assert.rejects(f(), (e) => {
          assert.ok(isNotFound(e), String(e));
          assert.equal((e as { errno: string }).errno, "ENODEV");
          return true;
        });
      }
      await assert.rejects(o.linkSetMtu("br0", 10), (e) => isKernelError(e, "EINVAL"));
      await assert.rejects(o.linkAddBridge("a-name-that-is-too-long"), RangeError);
      await assert.rejects(o.linkAddVeth("v0", "v1", { peerNetns: "/run/netns/podnet-t-does-not-exist" }), isNotFound);
      await assert.rejects(o.linkSetHairpin("br0", true), (e) => isKernelError(e));
    }));

  it("works in a netns given as /proc/PID/ns/net", () =>
    withTempNetns(async (ns) => {
      const { spawn } = await import("node:child_process");
      const { readlinkSync } = await import("node:fs");
      const child = spawn("ip", ["netns", "exec", ns.name, "sleep", "30"], { stdio: "ignore" });
      try {
        const path = `/proc/${child.pid}/ns/net`;
        const ours = readlinkSync("/proc/self/ns/net");
        // wait until `ip netns exec` has switched the child into the test netns
        for (let i = 0; i < 400 && readlinkSync(path) === ours; i++) await new Promise((r) => setTimeout(r, 5));
        assert.notEqual(readlinkSync(path), ours);
        const { createKernel } = await import("./kernel.js");
        const k = createKernel();
        try {
          await k.netns(path).linkAddIfb("ifbpid");
          assert.equal((await ns.ipJson("link", "show", "ifbpid"))[0]?.ifname, "ifbpid");
          assert.ok(k.netnsExists(path));
        } finally {
          k.close();
        }
      } finally {
        child.kill("SIGKILL");
      }
    }));

  it("reports a missing netns as ENOENT", async () => {
    const { createKernel } = await import("./kernel.js");
    const k = createKernel();
    try {
      await assert.rejects(k.netns("/run/netns/podnet-t-missing").linkList(), (e) => {
        assert.ok(isKernelError(e, "ENOENT"));
        assert.match(String(e), /podnet-t-missing/);
        return true;
      });
    } finally {
      k.close();
    }
  });

  it("sets bridge VLANs (skipped where the kernel lacks VLAN filtering)", (t) =>
    withTempNetns(async (ns) => {
      const o = ns.ops;
      try {
        await o.linkAddBridge("br0", { vlanFiltering: true });
      } catch (e) {
        if (isKernelError(e, "EOPNOTSUPP")) return t.skip("kernel built without CONFIG_BRIDGE_VLAN_FILTERING");
        throw e;
      }
      await o.linkAddVeth("veth0", "veth1");
      await o.linkSetMaster("veth0", "br0");
      await o.bridgeVlanAdd("veth0", 100, { pvid: true, untagged: true });
      await o.bridgeVlanAdd("br0", 100, { self: true });
      const out = JSON.parse(await ns.exec("bridge", "-json", "vlan", "show", "dev", "veth0"));
      assert.ok(JSON.stringify(out).includes('"vlan":100'));
      assert.equal((await o.linkGet("br0"))?.vlanFiltering, true);
      await o.bridgeVlanDel("veth0", 100);
      await o.linkSetVlanFiltering("br0", false);
      assert.equal((await o.linkGet("br0"))?.vlanFiltering, false);
    }));
});
