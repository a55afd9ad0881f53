import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  IPParseError,
  IPRangeError,
  addIP,
  canonicalIP,
  compareIP,
  formatIP,
  formatIPExact,
  ipEqual,
  ipFamily,
  ipFromBigint,
  ipFromBytes,
  ipToBytes,
  isIP,
  isV4Mapped,
  joinHostPort,
  nextIP,
  parseIP,
  parseIPExact,
  prevIP,
  to16,
  to4,
  tryParseIP,
  tryParseIPExact,
} from "./ip.js";

describe("parseIP / formatIP (Go net.ParseIP + net.IP.String)", () => {
  const cases: Array<[input: string, family: 4 | 6, canonical: string]> = [
    ["0.0.0.0", 4, "0.0.0.0"],
    ["255.255.255.255", 4, "255.255.255.255"],
    ["10.1.0.5", 4, "10.1.0.5"],
    ["::", 6, "::"],
    ["::1", 6, "::1"],
    ["1::", 6, "1::"],
    ["2001:DB8::1", 6, "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", 6, "2001:db8::1"],
    ["3ffe:ffff:0:01ff::0010", 6, "3ffe:ffff:0:1ff::10"],
    // one zero group is not compressed (RFC 5952 §4.2.2)
    ["2001:db8:0:1:1:1:1:1", 6, "2001:db8:0:1:1:1:1:1"],
    // the longest run wins; on a tie the first
    ["2001:0:0:1:0:0:0:1", 6, "2001:0:0:1::1"],
    ["2001:db8:0:0:1:0:0:1", 6, "2001:db8::1:0:0:1"],
    ["fd00:200::ffff:ffff:ffff:ffff", 6, "fd00:200::ffff:ffff:ffff:ffff"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    // IPv4-mapped: Go's To4 treats it as IPv4
    ["::ffff:10.1.2.3", 4, "10.1.2.3"],
    ["::ffff:a01:203", 4, "10.1.2.3"],
    ["0:0:0:0:0:ffff:0.0.0.0", 4, "0.0.0.0"],
    // IPv4-compatible and NAT64 forms are plain IPv6 in Go's output
    ["::1.2.3.4", 6, "::102:304"],
    ["64:ff9b::192.0.2.33", 6, "64:ff9b::c000:221"],
  ];
  for (const [input, family, canonical] of cases) {
    it(`${input} -> ${canonical}`, () => {
      const ip = parseIP(input);
      assert.equal(ip.family, family);
      assert.equal(formatIP(ip), canonical);
      assert.equal(ipFamily(input), family);
      assert.ok(isIP(input));
      // the canonical text parses back to the same address
      assert.deepEqual(parseIP(canonical), ip);
    });
  }

  const bad: Array<[input: string, reason: RegExp]> = [
    ["", /empty string/],
    ["1.2.3", /4 dot-separated fields, got 3/],
    ["1.2.3.4.5", /got 5/],
    ["1.2.3.256", /256 is greater than 255/],
    ["01.2.3.4", /leading zero/],
    ["1.2.3.-4", /not a decimal number/],
    ["1.2.3.4 ", /not a decimal number/],
    ["localhost", /neither an IPv4 nor an IPv6/],
    ["1::2::3", /only once/],
    ["1:2:3:4:5:6:7", /8 groups, got 7/],
    ["1:2:3:4:5:6:7:8:9", /8 groups, got 9/],
    ["1:2:3:4:5:6:7::8", /at least one group/],
    ["12345::", /not 1 to 4 hex digits/],
    ["g::", /not 1 to 4 hex digits/],
    [":1::", /empty IPv6 group/],
    ["1:::2", /empty IPv6 group/],
    ["fe80::1%eth0", /zones are not allowed/],
    ["1.2.3.4::", /not 1 to 4 hex digits/],
    ["::1.2.3.04", /leading zero/],
    ["10.1.0.0/16", /not a decimal number/],
  ];
  for (const [input, reason] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseIP(input),
        (e: unknown) => {
          assert.ok(e instanceof IPParseError);
          assert.equal(e.input, input);
          assert.ok(e.message.startsWith(`invalid IP address ${JSON.stringify(input)}: `), e.message);
          assert.match(e.message, reason);
          return true;
        },
      );
      assert.equal(tryParseIP(input), undefined);
      assert.equal(isIP(input), false);
    });
  }
});

describe("mapped addresses, bytes, families", () => {
  it("parseIPExact keeps ::ffff:a.b.c.d as IPv6; to4/to16/canonicalIP convert", () => {
    const m = parseIPExact("::ffff:10.1.2.3");
    assert.equal(m.family, 6);
    assert.ok(isV4Mapped(m));
    assert.equal(formatIP(m), "10.1.2.3");
    assert.deepEqual(to4(m), parseIP("10.1.2.3"));
    assert.deepEqual(canonicalIP(m), parseIP("10.1.2.3"));
    assert.deepEqual(to16(parseIP("10.1.2.3")), m);
    assert.equal(to4(parseIP("2001:db8::1")), undefined);
    assert.ok(ipEqual(m, parseIP("10.1.2.3")));
    assert.ok(!ipEqual(parseIP("::a01:203"), parseIP("10.1.2.3")));
  });
  it("bytes round-trip in network order", () => {
    assert.deepEqual([...ipToBytes(parseIP("10.1.2.3"))], [10, 1, 2, 3]);
    const v6 = parseIP("2001:db8::1");
    const b = ipToBytes(v6);
    assert.equal(b.length, 16);
    assert.deepEqual([b[0], b[1], b[2], b[3], b[15]], [0x20, 0x01, 0x0d, 0xb8, 1]);
    assert.deepEqual(ipFromBytes(b), v6);
    assert.deepEqual(ipFromBytes(Uint8Array.of(192, 168, 0, 1)), parseIP("192.168.0.1"));
    assert.throws(() => ipFromBytes(new Uint8Array(5)), IPRangeError);
  });
  it("ipFromBigint checks the range", () => {
    assert.equal(formatIP(ipFromBigint(4, 0xffffffffn)), "255.255.255.255");
    assert.throws(() => ipFromBigint(4, 1n << 32n), /not an IPv4 address value/);
    assert.throws(() => ipFromBigint(6, -1n), IPRangeError);
  });
});

describe("formatIPExact (inet_ntop(3), the kernel's text) beside formatIP (Go)", () => {
  const cases: Array<[input: string, exact: string, go: string]> = [
    ["10.200.0.1", "10.200.0.1", "10.200.0.1"],
    ["0.0.0.0", "0.0.0.0", "0.0.0.0"],
    ["fd00:200::1", "fd00:200::1", "fd00:200::1"],
    ["FD00:0200:0000:0000:0000:0000:0000:0001", "fd00:200::1", "fd00:200::1"],
    ["::", "::", "::"],
    ["::1", "::1", "::1"],
    ["fe80::858:aff:fec8:2", "fe80::858:aff:fec8:2", "fe80::858:aff:fec8:2"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1", "1:0:0:1::1"], // longest run wins
    ["1:0:0:1:0:0:1:1", "1::1:0:0:1:1", "1::1:0:0:1:1"], // first of equal runs
    ["1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"], // a single zero group is not compressed
    ["2001:db8::", "2001:db8::", "2001:db8::"],
    // The one address they disagree on: Go's net.IP has no family and prints an IPv4-mapped
    // address as IPv4; the kernel keeps it AF_INET6 and iproute2 prints it as IPv6.
    ["::ffff:10.0.0.1", "::ffff:10.0.0.1", "10.0.0.1"],
    ["::ffff:0:0", "::ffff:0.0.0.0", "0.0.0.0"],
    // IPv4-compatible: glibc prints the dotted tail, Go does not
    ["::1.2.3.4", "::1.2.3.4", "::102:304"],
  ];
  for (const [input, exact, go] of cases) {
    it(`${input} -> ${exact} (Go: ${go})`, () => {
      const ip = parseIPExact(input);
      assert.equal(formatIPExact(ip), exact);
      assert.equal(formatIP(ip), go);
      // the kernel's text reads back to the same family and value
      assert.deepEqual(parseIPExact(formatIPExact(ip)), ip);
    });
  }
  it("tryParseIPExact keeps the family of the text; undefined when malformed", () => {
    assert.equal(tryParseIPExact("::ffff:10.0.0.1")?.family, 6);
    assert.equal(tryParseIP("::ffff:10.0.0.1")?.family, 4);
    for (const s of [
      "",
      "10.0.0",
      "10.0.0.256",
      "01.0.0.1",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "fe80::1%eth0",
      "g::1",
      "10.0.0.1/8",
    ]) {
      assert.equal(tryParseIPExact(s), undefined, s);
    }
  });
});

describe("families of texts, host:port", () => {
  it("ipFamily reads addresses and prefixes (the one family test)", () => {
    assert.equal(ipFamily("10.0.0.1"), 4);
    assert.equal(ipFamily("fd00::1"), 6);
    assert.equal(ipFamily("10.0.0.0/8"), 4);
    assert.equal(ipFamily("fd00:200::/48"), 6);
    assert.equal(ipFamily("::ffff:10.0.0.0/120"), 4, "IPv4-mapped counts as IPv4, as in Go");
    for (const s of ["", "eth0", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "a:b", "[fd00::1]"])
      assert.equal(ipFamily(s), undefined, s);
  });
  it("joinHostPort is Go's net.JoinHostPort", () => {
    assert.equal(joinHostPort("10.0.0.2", 80), "10.0.0.2:80");
    assert.equal(joinHostPort("fd00::2", 80), "[fd00::2]:80");
    assert.equal(joinHostPort("", 8080), ":8080");
  });
});

describe("arithmetic and ordering", () => {
  const cases: Array<[string, bigint, string]> = [
    ["10.1.0.255", 1n, "10.1.1.0"],
    ["10.1.1.0", -1n, "10.1.0.255"],
    ["0.0.0.0", 0n, "0.0.0.0"],
    ["::ffff", 1n, "::1:0"],
    ["2001:db8::ffff:ffff:ffff:ffff", 1n, "2001:db8:0:1::"],
    ["::", 1n << 64n, "0:0:0:1::"],
  ];
  for (const [a, d, want] of cases) {
    it(`${a} + ${d} = ${want}`, () => assert.equal(formatIP(addIP(parseIP(a), d)), want));
  }
  it("next/prev and the edges of the address space", () => {
    assert.equal(formatIP(nextIP(parseIP("10.0.0.1"))), "10.0.0.2");
    assert.equal(formatIP(prevIP(parseIP("10.0.0.1"))), "10.0.0.0");
    assert.throws(() => nextIP(parseIP("255.255.255.255")), /255\.255\.255\.255 \+ 1 leaves the IPv4 address space/);
    assert.throws(() => prevIP(parseIP("0.0.0.0")), /0\.0\.0\.0 - 1 leaves/);
    assert.throws(() => nextIP(parseIP("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), IPRangeError);
    assert.throws(() => prevIP(parseIP("::")), IPRangeError);
    // IPv4 arithmetic never spills into IPv6 (Go's 4-byte net.IP does not either)
    assert.equal(nextIP(parseIP("10.0.0.1")).family, 4);
  });
  it("compareIP orders by family then value", () => {
    const sorted = ["2001:db8::1", "10.0.0.2", "::", "10.0.0.10", "0.0.0.0"].map(parseIP).sort(compareIP).map(formatIP);
    assert.deepEqual(sorted, ["0.0.0.0", "10.0.0.2", "10.0.0.10", "::", "2001:db8::1"]);
    assert.equal(compareIP(parseIP("10.0.0.1"), parseIP("10.0.0.1")), 0);
  });
});
