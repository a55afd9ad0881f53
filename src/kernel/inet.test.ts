import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { broadcastV4, formatIp, formatMac, maskBytes, parseCidr, parseIp, parseMac } from "./inet.js";

describe("inet", () => {
  it("round-trips addresses in inet_ntop form", () => {
    const cases: [string, string][] = [
      ["10.200.0.1", "10.200.0.1"],
      ["0.0.0.0", "0.0.0.0"],
      ["fd00:200::1", "fd00:200::1"],
      ["FD00:0200:0000:0000:0000:0000:0000:0001", "fd00:200::1"],
      ["::", "::"],
      ["::1", "::1"],
      ["fe80::858:aff:fec8:2", "fe80::858:aff:fec8:2"],
      ["1:0:0:1:0:0:0:1", "1:0:0:1::1"], // longest run wins
      ["1:0:0:1:0:0:1:1", "1::1:0:0:1:1"], // first of equal runs
      ["1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"], // a single zero group is not compressed
      ["::ffff:10.0.0.1", "::ffff:10.0.0.1"],
      ["2001:db8::", "2001:db8::"],
    ];
    for (const [input, want] of cases) assert.equal(formatIp(parseIp(input)!.bytes), want, input);
  });

  it("rejects malformed addresses", () => {
    for (const s of ["", "10.0.0", "10.0.0.256", "01.0.0.1", "1::2::3", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "g::1", "10.0.0.1/8"]) {
      assert.equal(parseIp(s), undefined, s);
    }
  });

  it("parses CIDRs and bare addresses", () => {
    assert.deepEqual(parseCidr("10.200.0.2/24"), { family: 4, bytes: Uint8Array.of(10, 200, 0, 2), prefixLen: 24 });
    assert.equal(parseCidr("fd00:200::2")?.prefixLen, 128);
    assert.equal(parseCidr("10.0.0.1/33"), undefined);
    assert.equal(parseCidr("fd00::/129"), undefined);
  });

  it("masks and computes the IPv4 broadcast", () => {
    assert.equal(formatIp(maskBytes(parseIp("10.200.3.77")!.bytes, 22)), "10.200.0.0");
    assert.equal(formatIp(broadcastV4(parseIp("10.200.3.77")!.bytes, 22)), "10.200.3.255");
    assert.equal(formatIp(maskBytes(parseIp("fd00:200::ffff")!.bytes, 120)), "fd00:200::ff00");
  });

  it("parses and formats MACs in lower case", () => {
    assert.equal(formatMac(parseMac("0A:58:0A:C8:00:02")!), "0a:58:0a:c8:00:02");
    assert.equal(formatMac(parseMac("0a-58-0a-c8-00-02")!), "0a:58:0a:c8:00:02");
    assert.equal(parseMac("0a:58:0a:c8:00"), undefined);
    assert.equal(parseMac("0a:58:0a:c8:00:zz"), undefined);
  });
});
