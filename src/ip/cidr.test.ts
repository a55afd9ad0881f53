import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  cidrBroadcast,
  cidrContains,
  cidrOf,
  cidrOverlaps,
  cidrSize,
  formatCidr,
  formatNetwork,
  hostMask,
  isNetworkAddress,
  parseCidr,
  prefixMask,
  tryParseCidr,
} from "./cidr.js";
import { IPParseError, formatIP, parseIP } from "./ip.js";
import { inRange, ipRange, rangeSize } from "./range.js";

describe("parseCidr (Go net.ParseCIDR)", () => {
  const cases: Array<[input: string, ip: string, prefix: number, network: string, broadcast: string, size: bigint]> = [
    ["0.0.0.0/0", "0.0.0.0/0", 0, "0.0.0.0/0", "255.255.255.255", 1n << 32n],
    ["10.1.0.5/16", "10.1.0.5/16", 16, "10.1.0.0/16", "10.1.255.255", 65536n],
    ["10.1.0.5/32", "10.1.0.5/32", 32, "10.1.0.5/32", "10.1.0.5", 1n],
    ["192.168.1.7/024", "192.168.1.7/24", 24, "192.168.1.0/24", "192.168.1.255", 256n],
    ["::/0", "::/0", 0, "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1n << 128n],
    ["::1/128", "::1/128", 128, "::1/128", "::1", 1n],
    [
      "3ffe:ffff:0:01ff::1/64",
      "3ffe:ffff:0:1ff::1/64",
      64,
      "3ffe:ffff:0:1ff::/64",
      "3ffe:ffff:0:1ff:ffff:ffff:ffff:ffff",
      1n << 64n,
    ],
    ["fd00:200::5/126", "fd00:200::5/126", 126, "fd00:200::4/126", "fd00:200::7", 4n],
    // IPv4-mapped text keeps a 128-bit mask; Go prints the 32-bit view
    ["::ffff:10.1.2.3/120", "10.1.2.3/24", 120, "10.1.2.0/24", "10.1.2.255", 256n],
  ];
  for (const [input, ip, prefix, network, broadcast, size] of cases) {
    it(`${input}`, () => {
      const c = parseCidr(input);
      assert.equal(formatCidr(c), ip);
      assert.equal(c.prefix, prefix);
      assert.equal(formatNetwork(c), network);
      assert.equal(formatIP(cidrBroadcast(c)), broadcast);
      assert.equal(cidrSize(c), size);
      assert.ok(cidrContains(c, c.ip));
      assert.ok(cidrContains(c, cidrBroadcast(c)));
    });
  }

  const bad: Array<[string, RegExp]> = [
    ["10.1.0.0", /missing "\/prefix-length"/],
    ["10.1.0.0/33", /prefix length 33 is greater than 32 for IPv4/],
    ["::/129", /greater than 128 for IPv6/],
    ["10.1.0.0/", /prefix length "" is not a decimal number/],
    ["10.1.0.0/-1", /is not a decimal number/],
    ["10.1.0.0/+8", /is not a decimal number/],
    ["10.1.0.0/8/8", /is not a decimal number/],
    ["10.1.0/8", /4 dot-separated fields/],
    ["/8", /empty string/],
    ["fe80::1%eth0/64", /zones/],
  ];
  for (const [input, reason] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseCidr(input),
        (e: unknown) => {
          assert.ok(e instanceof IPParseError);
          assert.ok(e.message.startsWith(`invalid CIDR address ${JSON.stringify(input)}: `), e.message);
          assert.match(e.message, reason);
          return true;
        },
      );
      assert.equal(tryParseCidr(input), undefined);
    });
  }

  it("keeps host bits in ip and knows whether it is a network address", () => {
    assert.ok(!isNetworkAddress(parseCidr("10.1.0.5/16")));
    assert.ok(isNetworkAddress(parseCidr("10.1.0.0/16")));
  });
});

describe("masks, contains, overlap", () => {
  it("prefixMask and hostMask", () => {
    assert.equal(prefixMask(4, 0), 0n);
    assert.equal(prefixMask(4, 24), 0xffffff00n);
    assert.equal(prefixMask(4, 32), 0xffffffffn);
    assert.equal(hostMask(4, 24), 0xffn);
    assert.equal(prefixMask(6, 128), (1n << 128n) - 1n);
    assert.equal(hostMask(6, 64), (1n << 64n) - 1n);
    assert.throws(() => prefixMask(4, 33), /prefix length 33 is not in 0\.\.32/);
    assert.throws(() => cidrOf(parseIP("10.0.0.1"), -1), RangeError);
  });
  const contains: Array<[string, string, boolean]> = [
    ["10.1.0.0/16", "10.1.255.255", true],
    ["10.1.0.0/16", "10.2.0.0", false],
    ["0.0.0.0/0", "255.255.255.255", true],
    ["0.0.0.0/0", "::", false],
    ["::/0", "10.0.0.1", false],
    ["10.1.0.0/16", "::ffff:10.1.2.3", true],
    ["::ffff:10.1.0.0/112", "10.1.2.3", true],
    ["2001:db8::/64", "2001:db8::ffff", true],
    ["2001:db8::/64", "2001:db8:0:1::", false],
    ["10.1.0.5/32", "10.1.0.5", true],
    ["10.1.0.5/32", "10.1.0.6", false],
  ];
  for (const [c, ip, want] of contains) {
    it(`${c} ${want ? "contains" : "does not contain"} ${ip}`, () =>
      assert.equal(cidrContains(parseCidr(c), parseIP(ip)), want));
  }
  const overlaps: Array<[string, string, boolean]> = [
    ["10.0.0.0/8", "10.1.0.0/16", true],
    ["10.1.0.0/16", "10.0.0.0/8", true],
    ["10.1.0.0/16", "10.2.0.0/16", false],
    ["0.0.0.0/0", "192.168.0.0/24", true],
    ["0.0.0.0/0", "::/0", false],
    ["fd00::/64", "fd00::8000:0:0:0/65", true],
    ["fd00::/65", "fd00::8000:0:0:0/65", false],
    ["10.1.0.0/16", "::ffff:10.1.0.0/112", true],
  ];
  for (const [a, b, want] of overlaps) {
    it(`${a} ${want ? "overlaps" : "does not overlap"} ${b}`, () =>
      assert.equal(cidrOverlaps(parseCidr(a), parseCidr(b)), want));
  }
});

describe("ranges", () => {
  it("iterates inclusively across octet boundaries", () => {
    const got = [...ipRange(parseIP("10.0.0.254"), parseIP("10.0.1.1"))].map(formatIP);
    assert.deepEqual(got, ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]);
    assert.deepEqual([...ipRange(parseIP("fd00::ffff"), parseIP("fd00::1:0"))].map(formatIP), [
      "fd00::ffff",
      "fd00::1:0",
    ]);
    assert.deepEqual([...ipRange(parseIP("10.0.0.2"), parseIP("10.0.0.1"))], []);
  });
  it("size and membership", () => {
    assert.equal(rangeSize(parseIP("10.0.0.1"), parseIP("10.0.0.254")), 254n);
    assert.equal(rangeSize(parseIP("::"), parseIP("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 1n << 128n);
    assert.equal(rangeSize(parseIP("10.0.0.2"), parseIP("10.0.0.1")), 0n);
    assert.ok(inRange(parseIP("10.0.0.5"), parseIP("10.0.0.1"), parseIP("10.0.0.5")));
    assert.ok(!inRange(parseIP("::5"), parseIP("10.0.0.1"), parseIP("10.0.0.9")));
    assert.throws(() => rangeSize(parseIP("10.0.0.1"), parseIP("::1")), /mixes IPv4 and IPv6/);
  });
});
