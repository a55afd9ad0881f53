import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CidrListError, formatCidr, parseCidrList } from "./index.js";

const texts = (t: string, o?: Parameters<typeof parseCidrList>[1]) => parseCidrList(t, o).map(formatCidr);

describe("parseCidrList", () => {
  it("one CIDR, or one per family in the order given, spaces around commas ignored", () => {
    assert.deepEqual(texts("10.200.0.0/16"), ["10.200.0.0/16"]);
    assert.deepEqual(texts("fd00:200::/48, 10.200.0.0/16"), ["fd00:200::/48", "10.200.0.0/16"]);
  });
  it("host bits: refused naming the network, or masked", () => {
    assert.throws(
      () => parseCidrList("10.0.0.1/24"),
      /^CidrListError: "10\.0\.0\.1\/24" has host bits set \(did you mean 10\.0\.0\.0\/24\?\)$/,
    );
    assert.deepEqual(texts("10.0.0.1/24,fd00::5/64", { hostBits: "mask" }), ["10.0.0.0/24", "fd00::/64"]);
  });
  it("room for pods: minHostBits 2 refuses /31 and /127", () => {
    assert.deepEqual(texts("10.0.0.0/30,fd00::/126", { minHostBits: 2 }), ["10.0.0.0/30", "fd00::/126"]);
    assert.throws(
      () => parseCidrList("10.0.0.0/31", { minHostBits: 2 }),
      /"10\.0\.0\.0\/31" is too small for pods \(at most \/30\)/,
    );
    assert.throws(() => parseCidrList("fd00::/127", { minHostBits: 2 }), /at most \/126/);
    assert.deepEqual(texts("10.0.0.1/32"), ["10.0.0.1/32"], "without the option any prefix");
  });
  it("refuses an empty element, three CIDRs, two of a family and text that is no CIDR, naming it", () => {
    const cases: Array<[string, RegExp]> = [
      ["", /^"" is not a comma-separated list of CIDRs$/],
      ["10.0.0.0/8,", /^"10\.0\.0\.0\/8," is not a comma-separated list of CIDRs$/],
      ["10.0.0.0/8,fd00::/8,10.1.0.0/16", /has 3 CIDRs; at most one IPv4 and one IPv6$/],
      ["10.0.0.0/8,11.0.0.0/8", /has two IPv4 CIDRs; at most one per family$/],
      ["10.0.0.0/33", /^"10\.0\.0\.0\/33" is not a CIDR: invalid CIDR address/],
    ];
    for (const [t, re] of cases) {
      assert.throws(
        () => parseCidrList(t),
        (e: unknown) => e instanceof CidrListError && e.code === "PODNET_CIDR_LIST" && re.test(e.message),
        t,
      );
    }
  });
});
