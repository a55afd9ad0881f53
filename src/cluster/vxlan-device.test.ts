// The VXLAN device over the fake kernel: created to the spec, kept when it matches, recreated
// (keeping its MAC) when its VXLAN attributes differ, MTU and addresses brought in line.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterConfigError } from "./blocks.js";
import { createFakeKernel } from "../kernel/fake.js";
import { ensureVxlanDevice, syncVxlanAddresses, vtepAddressOf, vtepMacFor } from "./vxlan-device.js";

async function host(mtu = 1500) {
  const k = createFakeKernel();
  const ops = k.netns(null);
  await ops.linkAddDummy("eth0", { up: true, mtu });
  await ops.addrAdd("eth0", "192.168.10.1/24");
  await ops.addrAdd("eth0", "fd00:10::1/64", { noDad: true });
  return { k, ops };
}

const vxLine = (dump: string) => dump.split("\n").find((l) => l.startsWith("link podnet.vxlan"));

describe("ensureVxlanDevice", () => {
  it("creates podnet.vxlan on the link holding the node IP: VNI 1, port 4789, no learning, MTU - 50, up, the blocks' VTEP addresses", async () => {
    const { k, ops } = await host(9000);
    const d = await ensureVxlanDevice(ops, { nodeIP: "192.168.10.1", blocks: ["10.200.3.0/24", "fd00:200:0:3::/64"] });
    assert.deepEqual(d, {
      name: "podnet.vxlan",
      mac: vtepMacFor("192.168.10.1"),
      mtu: 8950,
      underlay: "eth0",
      vtep: { mac: vtepMacFor("192.168.10.1"), vni: 1, port: 4789 },
      action: "created",
    });
    const dump = k.dump(null);
    assert.equal(
      vxLine(dump),
      `link podnet.vxlan vxlan up mtu 8950 mac ${d.mac} vxlan id 1 local 192.168.10.1 dev eth0 dstport 4789 nolearning`,
    );
    assert.match(dump, /^addr podnet\.vxlan 10\.200\.3\.0\/32$/m);
    assert.match(dump, /^addr podnet\.vxlan fd00:200:0:3::\/128 nodad$/m);
    // a locally administered unicast MAC, stable per node IP, different between nodes
    assert.match(d.mac, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
    assert.notEqual(vtepMacFor("192.168.10.2"), d.mac);
  });

  it("keeps a matching device (no new link), fixing its MTU, addresses and state", async () => {
    const { k, ops } = await host();
    const first = await ensureVxlanDevice(ops, { nodeIP: "192.168.10.1", blocks: ["10.200.3.0/24"] });
    await ops.linkSetMtu("podnet.vxlan", 1400);
    await ops.linkSetDown("podnet.vxlan");
    await ops.addrAdd("podnet.vxlan", "10.200.9.0/32");
    const before = k.calls.length;
    const again = await ensureVxlanDevice(ops, { nodeIP: "192.168.10.1", blocks: ["10.200.3.0/24"] });
    assert.equal(again.action, "kept");
    assert.equal(again.mac, first.mac);
    const calls = k.calls.slice(before).join("\n");
    assert.doesNotMatch(calls, /ip link (add|del)/);
    assert.match(calls, /ip link set dev podnet\.vxlan mtu 1450/);
    assert.match(calls, /ip addr del 10\.200\.9\.0\/32 dev podnet\.vxlan/);
    const dump = k.dump(null);
    assert.match(vxLine(dump)!, / up mtu 1450 /);
    assert.deepEqual(
      dump.split("\n").filter((l) => l.startsWith("addr podnet.vxlan")),
      ["addr podnet.vxlan 10.200.3.0/32"],
    );
  });

  it("recreates a device with other VXLAN attributes, keeping its MAC", async () => {
    const { k, ops } = await host();
    await ops.linkAddVxlan("podnet.vxlan", {
      vni: 42,
      port: 8472,
      local: "192.168.10.1",
      dev: "eth0",
      mac: "0e:11:22:33:44:55",
    });
    const d = await ensureVxlanDevice(ops, { nodeIP: "192.168.10.1" });
    assert.equal(d.action, "recreated");
    assert.equal(d.mac, "0e:11:22:33:44:55");
    assert.equal(
      vxLine(k.dump(null)),
      "link podnet.vxlan vxlan up mtu 1450 mac 0e:11:22:33:44:55 vxlan id 1 local 192.168.10.1 dev eth0 dstport 4789 nolearning",
    );
    // learning on, or a link of another kind under the name, is not podnet's device either
    await ops.linkDel("podnet.vxlan");
    await ops.linkAddDummy("podnet.vxlan");
    assert.equal((await ensureVxlanDevice(ops, { nodeIP: "192.168.10.1" })).action, "recreated");
    assert.equal((await ops.linkGet("podnet.vxlan"))?.kind, "vxlan");
  });

  it("an IPv6 node IP: MTU - 70; a node IP no link holds: an error naming --node-ip", async () => {
    const { ops } = await host();
    assert.equal((await ensureVxlanDevice(ops, { nodeIP: "fd00:10::1" })).mtu, 1430);
    await assert.rejects(
      ensureVxlanDevice(ops, { nodeIP: "192.168.99.1", name: "vx1" }),
      (e) =>
        e instanceof ClusterConfigError &&
        e.field === "--node-ip" &&
        /192\.168\.99\.1 is not an address/.test(e.message),
    );
    await assert.rejects(ensureVxlanDevice(ops, { nodeIP: "x", name: "vx1" }), ClusterConfigError);
    assert.equal(await ops.linkGet("vx1"), undefined, "nothing made");
  });

  it("syncVxlanAddresses swaps the VTEP address when the block changes", async () => {
    const { k, ops } = await host();
    await ensureVxlanDevice(ops, { nodeIP: "192.168.10.1", blocks: ["10.200.3.0/24"] });
    await syncVxlanAddresses(ops, "podnet.vxlan", ["10.200.4.0/24"]);
    assert.deepEqual(
      k
        .dump(null)
        .split("\n")
        .filter((l) => l.startsWith("addr podnet.vxlan")),
      ["addr podnet.vxlan 10.200.4.0/32"],
    );
    assert.equal(vtepAddressOf("fd00:200:0:3::/64"), "fd00:200:0:3::/128");
  });
});
