import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { masqRuleArgs, parsePodCIDRs, renderNetConfig } from "./config.js";
import { formatNetwork } from "../../../ip/index.js";
import { dedupRules, listingHasRule } from "./ebtables.js";

describe("kubenet pod CIDRs", () => {
  it("host bits are masked", () => {
    assert.deepEqual(parsePodCIDRs("10.0.0.1/24").cidrs.map(formatNetwork), ["10.0.0.0/24"]);
    assert.deepEqual(parsePodCIDRs("2001:beef::1/48").cidrs.map(formatNetwork), ["2001:beef::/48"]);
  });
  it("dual stack keeps both, gateways are the first addresses", () => {
    const p = parsePodCIDRs("10.200.0.0/24,fd00:200::/64");
    assert.deepEqual(p.cidrs.map(formatNetwork), ["10.200.0.0/24", "fd00:200::/64"]);
    assert.deepEqual(p.gateways, ["10.200.0.1", "fd00:200::1"]);
    assert.deepEqual(parsePodCIDRs("10.200.0.0/24,fd00:200::/64", false).cidrs.map(formatNetwork), ["10.200.0.0/24"]);
  });
  for (const [bad, why] of [
    ["10.0.0.0/33", /not a CIDR/],
    ["fast", /not a CIDR/],
    ["10.0.0.0/24,10.1.0.0/24", /one per family/],
    ["10.0.0.0/32", /too small/],
  ] as const) {
    it(`${JSON.stringify(bad)} is rejected`, () => assert.throws(() => parsePodCIDRs(bad), why));
  }
});

describe("kubenet bridge config", () => {
  it("the kubelet template, single stack", () => {
    const c = JSON.parse(renderNetConfig({ mtu: 1460, hairpin: false, podCIDRs: parsePodCIDRs("10.0.0.1/24").cidrs }));
    assert.deepEqual(c, {
      cniVersion: "0.1.0",
      name: "kubenet",
      type: "bridge",
      bridge: "cbr0",
      mtu: 1460,
      addIf: "eth0",
      isGateway: true,
      ipMasq: false,
      hairpinMode: false,
      ipam: { type: "host-local", ranges: [[{ subnet: "10.0.0.0/24" }]], routes: [{ dst: "0.0.0.0/0" }] },
    });
  });
  it("dual stack: a range set and a default route per family, v4 first; dataDir when given", () => {
    const c = JSON.parse(
      renderNetConfig({
        mtu: 9001,
        hairpin: true,
        podCIDRs: parsePodCIDRs("10.0.0.0/24,fd00::/64").cidrs,
        dataDir: "/tmp/x",
      }),
    );
    assert.deepEqual(c.ipam.ranges, [[{ subnet: "10.0.0.0/24" }], [{ subnet: "fd00::/64" }]]);
    assert.deepEqual(c.ipam.routes, [{ dst: "0.0.0.0/0" }, { dst: "::/0" }]);
    assert.equal(c.ipam.dataDir, "/tmp/x");
    assert.equal(c.hairpinMode, true);
  });
  it("the masquerade rule and its off switch", () => {
    assert.deepEqual(masqRuleArgs("10.0.0.0/8"), [
      "-m",
      "comment",
      "--comment",
      "kubenet: SNAT for outbound traffic from cluster",
      "-m",
      "addrtype",
      "!",
      "--dst-type",
      "LOCAL",
      "!",
      "-d",
      "10.0.0.0/8",
      "-j",
      "MASQUERADE",
    ]);
    assert.equal(masqRuleArgs("0.0.0.0/0"), undefined);
    assert.equal(masqRuleArgs("::/0"), undefined);
  });
  it("ebtables dedup rules as the kubelet writes them", () => {
    const r = dedupRules("56:fa:49:18:9e:ff", { gateway: "10.1.243.1", podCIDR: "10.1.243.0/24" });
    assert.equal(r.accept.join(" "), "-p IPv4 -s 56:fa:49:18:9e:ff -o veth+ --ip-src 10.1.243.1 -j ACCEPT");
    assert.equal(r.drop.join(" "), "-p IPv4 -s 56:fa:49:18:9e:ff -o veth+ --ip-src 10.1.243.0/24 -j DROP");
    assert.equal(dedupRules("aa:bb:cc:dd:ee:ff", { gateway: "fd00::1", podCIDR: "fd00::/64" }).drop[6], "--ip6-src");
    assert.ok(listingHasRule(`Bridge chain: KUBE-DEDUP\n${r.drop.join(" ")}\n`, r.drop));
  });
});
