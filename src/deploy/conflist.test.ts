import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConfList, type JsonObject } from "../cni/index.js";
import { loadIPAMConfig } from "../plugins/ipam/host-local/config.js";
import { formatRangeSet } from "../plugins/ipam/host-local/range-set.js";
import { conflistText, parsePodCIDRs } from "./conflist.js";

describe("the conflist podnet install writes", () => {
  it("parses as a config list: bridge + host-local, portmap and bandwidth with their capabilities", () => {
    const l = parseConfList(
      conflistText({ name: "podnet", podCIDRs: parsePodCIDRs("10.88.0.0/16") }),
      "10-podnet.conflist",
    );
    assert.equal(l.name, "podnet");
    assert.equal(l.cniVersion, "1.0.0");
    assert.deepEqual(
      l.plugins.map((p) => [p.type, p.capabilities]),
      [
        ["bridge", []],
        ["portmap", ["portMappings"]],
        ["bandwidth", ["bandwidth"]],
      ],
    );
    assert.deepEqual(l.plugins.map((p) => p.type).includes("loopback"), false, "the runtime brings lo up itself");
  });
  it("host-local reads one range set per family from it, with default routes", async () => {
    const l = parseConfList(conflistText({ name: "podnet", podCIDRs: parsePodCIDRs("10.88.0.0/16,fd00:88::/64") }));
    const bridge = l.plugins[0]!.raw;
    // libcni hands each plugin its object with the list's name and version (buildRequest)
    const { ipam } = await loadIPAMConfig({ ...bridge, name: l.name, cniVersion: l.cniVersion } as JsonObject, "");
    assert.deepEqual(ipam.ranges.map(formatRangeSet), [
      "10.88.0.1-10.88.255.254",
      "fd00:88::1-fd00:88::ffff:ffff:ffff:ffff",
    ]);
    assert.deepEqual(ipam.routes, [{ dst: "0.0.0.0/0" }, { dst: "::/0" }]);
    assert.equal(ipam.dataDir, "/var/lib/cni/networks");
    assert.equal(bridge["isGateway"], true);
    assert.equal(bridge["ipMasq"], true);
  });
  it("--pod-cidr: one CIDR per family, network addresses, room for pods", () => {
    assert.throws(() => parsePodCIDRs("10.88.0.1/16"), /has host bits set \(did you mean 10.88.0.0\/16\?\)/);
    assert.throws(
      () => parsePodCIDRs("10.88.0.0/16,10.89.0.0/16"),
      /--pod-cidr: "10.88.0.0\/16,10.89.0.0\/16" has two IPv4 CIDRs; at most one per family/,
    );
    assert.throws(() => parsePodCIDRs("10.88.0.0/31"), /too small/);
    assert.throws(() => parsePodCIDRs("nope"), /"nope" is not a CIDR/);
    assert.throws(
      () => parsePodCIDRs("10.88.0.0/16,"),
      /--pod-cidr: "10.88.0.0\/16," is not a comma-separated list of CIDRs/,
    );
  });
});
