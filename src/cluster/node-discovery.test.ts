// Node discovery over the fake kernel: the default node IP from the route to the Internet, the
// link holding an address, and the connected subnets without podnet's own links.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFakeKernel } from "../kernel/fake.js";
import { ClusterConfigError } from "./blocks.js";
import { connectedSubnets, defaultNodeIP, defaultNodeIPs, linkOfAddress } from "./node-discovery.js";

async function host() {
  const k = createFakeKernel({ netns: ["/run/netns/pod"] });
  const ops = k.netns(null);
  await ops.linkSetUp("lo");
  await ops.addrAdd("lo", "127.0.0.1/8", { scope: "host" });
  await ops.linkAddDummy("eth0", { up: true });
  await ops.addrAdd("eth0", "192.168.10.5/24");
  await ops.addrAdd("eth0", "fd00:10::5/64", { noDad: true });
  await ops.addrAdd("eth0", "fe80::5/64", { noDad: true, scope: "link" });
  await ops.linkAddDummy("eth1", { up: true });
  await ops.addrAdd("eth1", "172.16.1.5/16");
  await ops.addrAdd("eth1", "172.16.1.6/16"); // same subnet: listed once
  await ops.linkAddDummy("eth2"); // down
  await ops.addrAdd("eth2", "172.17.0.5/16");
  await ops.linkAddDummy("lb0", { up: true });
  await ops.addrAdd("lb0", "10.96.0.10/32"); // a host address: no subnet
  await ops.linkAddBridge("cbr0", { up: true });
  await ops.addrAdd("cbr0", "10.200.3.1/24");
  await ops.linkAddVeth("veth1", "eth0", { peerNetns: "/run/netns/pod", up: true });
  await ops.linkSetMaster("veth1", "cbr0");
  await ops.addrAdd("veth1", "10.200.77.1/24"); // a port of podnet's bridge
  await ops.linkAddVxlan("podnet.vxlan", { vni: 1, local: "192.168.10.5", dev: "eth0", up: true });
  await ops.addrAdd("podnet.vxlan", "10.200.3.0/24");
  return { k, ops };
}

describe("node discovery", () => {
  it("connected subnets: global prefixes of up links, IPv4 first, without loopback, link-local, host addresses, podnet's bridge, its ports and the VXLAN device", async () => {
    const { ops } = await host();
    assert.deepEqual(await connectedSubnets(ops, { exclude: ["cbr0", "podnet.vxlan"] }), [
      "192.168.10.0/24",
      "172.16.0.0/16",
      "fd00:10::/64",
    ]);
    assert.ok((await connectedSubnets(ops)).includes("10.200.3.0/24"), "cbr0 counts unless excluded");
  });

  it("the default node IP is the source address of the route to the Internet, per family", async () => {
    const { ops } = await host();
    assert.deepEqual(await defaultNodeIPs(ops), []);
    await ops.routeAdd({ dst: "default", gw: "172.16.0.1" });
    assert.deepEqual(await defaultNodeIP(ops, 4), { ip: "172.16.1.5", dev: "eth1" });
    await ops.routeAdd({ dst: "::/0", gw: "fd00:10::1", dev: "eth0" });
    assert.deepEqual(await defaultNodeIPs(ops), [
      { ip: "172.16.1.5", dev: "eth1" },
      { ip: "fd00:10::5", dev: "eth0" },
    ]);
  });

  it("finds the link holding an address; none: an error naming --node-ip", async () => {
    const { ops } = await host();
    const r = await linkOfAddress(ops, "fd00:10::5");
    assert.deepEqual([r.link.name, r.prefixLen], ["eth0", 64]);
    await assert.rejects(
      linkOfAddress(ops, "192.168.10.99"),
      (e) => e instanceof ClusterConfigError && e.field === "--node-ip",
    );
  });
});
