import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { podCidrText, podNetworkFor } from "./network.js";

describe("kubenet's pod network", () => {
  it("a pod CIDR makes it ready: the CIDRs (masked) and the bridge config rendered from them", () => {
    const n = podNetworkFor("10.200.0.7/24,fd00:200::/64", { mtu: 1450, hairpin: true, dataDir: "/ipam" });
    assert.ok(n.ready);
    assert.equal(podCidrText(n.cidrs), "10.200.0.0/24,fd00:200::/64");
    assert.deepEqual(n.cidrs.gateways, ["10.200.0.1", "fd00:200::1"]);
    assert.equal(n.netConfig.name, "kubenet");
    assert.deepEqual(
      n.netConfig.plugins.map((p) => p.type),
      ["bridge"],
    );
    assert.match(n.text, /"mtu": 1450,[\s\S]*"hairpinMode": true,[\s\S]*"dataDir": "\/ipam"/);
  });

  it("a value that is no pod CIDR leaves it not ready, with the kubelet's warning", () => {
    const n = podNetworkFor("10.200.0.0/33", { mtu: 1460, hairpin: false });
    assert.equal(n.ready, false);
    assert.match(
      (n as { warning: string }).warning,
      /^Failed to generate CNI network config: pod CIDR "10.200.0.0\/33" is not a CIDR/,
    );
  });
});
