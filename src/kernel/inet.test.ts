import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cidrBroadcast, formatIPExact, parseIPExact } from "../ip/index.js";
import { formatMac, inetAddrText, inetCidrText, inetNetwork, inetPrefix, inetText, parseMac } from "./inet.js";

describe("inet", () => {
  it("prints netlink's address bytes in inet_ntop form, keeping the family", () => {
    assert.equal(inetText(Uint8Array.of(10, 200, 0, 1)), "10.200.0.1");
    const mapped = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1);
    assert.equal(
      inetText(mapped),
      "::ffff:10.0.0.1",
      "an AF_INET6 address stays IPv6 (Go's net.IP.String() would say 10.0.0.1)",
    );
    assert.equal(inetText(Uint8Array.of(0xfd, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)), "fd00:200::1");
    assert.throws(() => inetText(new Uint8Array(5)), RangeError);
    assert.equal(inetAddrText("FD00:0200:0000::1"), "fd00:200::1");
    assert.equal(inetAddrText("10.0.0.1/8"), undefined);
  });

  it("reads prefix arguments as iproute2 does: the text's own family, a bare address is a host prefix", () => {
    const p = inetPrefix("10.200.0.2/24")!;
    assert.deepEqual([p.ip.family, formatIPExact(p.ip), p.prefix], [4, "10.200.0.2", 24]);
    assert.equal(inetPrefix("fd00:200::2")?.prefix, 128);
    assert.equal(inetPrefix("10.0.0.1")?.prefix, 32);
    const m = inetPrefix("::ffff:10.0.0.0/120")!;
    assert.deepEqual([m.ip.family, m.prefix], [6, 120]);
    assert.equal(inetCidrText("::ffff:10.0.0.1/120"), "::ffff:10.0.0.1/120");
    assert.equal(inetCidrText("fd00:200:0::1/64"), "fd00:200::1/64");
    for (const bad of ["10.0.0.1/33", "fd00::/129", "10.0.0/8", "10.0.0.1/", "fe80::1%eth0/64", ""])
      assert.equal(inetPrefix(bad), undefined, bad);
  });

  it("masks and computes the IPv4 broadcast in the kernel's text", () => {
    assert.equal(inetNetwork(inetPrefix("10.200.3.77/22")!), "10.200.0.0/22");
    assert.equal(formatIPExact(cidrBroadcast(inetPrefix("10.200.3.77/22")!)), "10.200.3.255");
    assert.equal(inetNetwork(inetPrefix("fd00:200::ffff/120")!), "fd00:200::ff00/120");
    assert.equal(inetNetwork(inetPrefix("::ffff:10.1.2.3/120")!), "::ffff:10.1.2.0/120");
    assert.deepEqual(parseIPExact("::ffff:10.1.2.0"), inetPrefix("::ffff:10.1.2.3/120")!.network);
  });

  it("parses and formats MACs in lower case", () => {
    assert.equal(formatMac(parseMac("0A:58:0A:C8:00:02")!), "0a:58:0a:c8:00:02");
    assert.equal(formatMac(parseMac("0a-58-0a-c8-00-02")!), "0a:58:0a:c8:00:02");
    assert.equal(parseMac("0a:58:0a:c8:00"), undefined);
    assert.equal(parseMac("0a:58:0a:c8:00:zz"), undefined);
  });
});
