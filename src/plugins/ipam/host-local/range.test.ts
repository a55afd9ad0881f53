import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatCidr, formatIP, parseIP } from "../../../ip/index.js";
import {
  type RangeInput,
  RangeConfigError,
  canonicalizeRange,
  formatRange,
  rangeContains,
  rangesOverlap,
} from "./range.js";
import {
  canonicalizeRangeSet,
  formatRangeSet,
  isAllocatable,
  rangeFor,
  rangeSetCapacity,
  rangeSetContains,
  rangeSetsOverlap,
} from "./range-set.js";

const show = (r: ReturnType<typeof canonicalizeRange>) => ({
  subnet: formatCidr(r.subnet),
  rangeStart: formatIP(r.rangeStart),
  rangeEnd: formatIP(r.rangeEnd),
  gateway: formatIP(r.gateway),
});

describe("canonicalizeRange: defaults (Go Range.Canonicalize)", () => {
  const cases: Array<[RangeInput, ReturnType<typeof show>]> = [
    [
      { subnet: "10.1.0.0/24" },
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.1", rangeEnd: "10.1.0.254", gateway: "10.1.0.1" },
    ],
    [
      { subnet: "10.1.0.0/30" },
      { subnet: "10.1.0.0/30", rangeStart: "10.1.0.1", rangeEnd: "10.1.0.2", gateway: "10.1.0.1" },
    ],
    [
      { subnet: "0.0.0.0/0" },
      { subnet: "0.0.0.0/0", rangeStart: "0.0.0.1", rangeEnd: "255.255.255.254", gateway: "0.0.0.1" },
    ],
    // IPv6: the last address of the prefix, not ".255" as cni.dev says
    [
      { subnet: "fd00:200::/64" },
      {
        subnet: "fd00:200::/64",
        rangeStart: "fd00:200::1",
        rangeEnd: "fd00:200::ffff:ffff:ffff:ffff",
        gateway: "fd00:200::1",
      },
    ],
    [
      { subnet: "fd00::/126" },
      { subnet: "fd00::/126", rangeStart: "fd00::1", rangeEnd: "fd00::3", gateway: "fd00::1" },
    ],
    [
      { subnet: "10.10.0.0/16", rangeStart: "10.10.1.20", rangeEnd: "10.10.3.50", gateway: "10.10.0.254" },
      { subnet: "10.10.0.0/16", rangeStart: "10.10.1.20", rangeEnd: "10.10.3.50", gateway: "10.10.0.254" },
    ],
    [
      { subnet: "3ffe:ffff:0:01ff::/64", rangeStart: "3ffe:ffff:0:01ff::0010", rangeEnd: "3ffe:ffff:0:01ff::0020" },
      {
        subnet: "3ffe:ffff:0:1ff::/64",
        rangeStart: "3ffe:ffff:0:1ff::10",
        rangeEnd: "3ffe:ffff:0:1ff::20",
        gateway: "3ffe:ffff:0:1ff::1",
      },
    ],
    // containerd sends every field, empty when unset: "" is absent (Go's net.IP.UnmarshalText)
    [
      { subnet: "10.1.0.0/24", rangeStart: "", rangeEnd: "", gateway: "" },
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.1", rangeEnd: "10.1.0.254", gateway: "10.1.0.1" },
    ],
    [
      { subnet: "10.1.0.0/24", rangeStart: null },
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.1", rangeEnd: "10.1.0.254", gateway: "10.1.0.1" },
    ],
    // mapped addresses in rangeStart/End/gateway are IPv4 (Go's To4)
    [
      { subnet: "10.1.0.0/24", rangeStart: "::ffff:10.1.0.10", gateway: "::ffff:10.1.0.254" },
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.254", gateway: "10.1.0.254" },
    ],
    // Go accepts the network address as rangeStart, and a gateway outside the subnet
    [
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.0" },
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.0", rangeEnd: "10.1.0.254", gateway: "10.1.0.1" },
    ],
    [
      { subnet: "10.1.0.0/24", gateway: "192.168.0.1" },
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.1", rangeEnd: "10.1.0.254", gateway: "192.168.0.1" },
    ],
    [
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.7", rangeEnd: "10.1.0.7" },
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.7", rangeEnd: "10.1.0.7", gateway: "10.1.0.1" },
    ],
  ];
  for (const [input, want] of cases) {
    it(JSON.stringify(input), () => assert.deepEqual(show(canonicalizeRange(input)), want));
  }
});

describe("canonicalizeRange: errors name the field and value", () => {
  const cases: Array<[RangeInput, string]> = [
    [{}, `missing "subnet"`],
    [{ subnet: "" }, `missing "subnet"`],
    [{ subnet: "10.1.0.0/33" }, `invalid range "10.1.0.0/33": prefix length 33 is greater than 32 for IPv4`],
    [{ subnet: "10.1.0.0" }, `invalid range "10.1.0.0": missing "/prefix-length"`],
    [{ subnet: "10.1.0.0/31" }, "Network 10.1.0.0/31 too small to allocate from"],
    [{ subnet: "10.1.0.1/32" }, "Network 10.1.0.1/32 too small to allocate from"],
    [{ subnet: "fd00::/127" }, "Network fd00::/127 too small to allocate from"],
    [{ subnet: "::1/128" }, "Network ::1/128 too small to allocate from"],
    [{ subnet: "::ffff:10.1.0.0/120" }, "IPNet IP and Mask version mismatch"],
    [
      { subnet: "10.1.0.5/24" },
      "Network has host bits set. For a subnet mask of length 24 the network address is 10.1.0.0",
    ],
    [
      { subnet: "fd00::5/64" },
      "Network has host bits set. For a subnet mask of length 64 the network address is fd00::",
    ],
    [{ subnet: "10.1.0.0/24", rangeStart: "10.2.0.1" }, "RangeStart 10.2.0.1 not in network 10.1.0.0/24"],
    [{ subnet: "10.1.0.0/24", rangeStart: "fd00::1" }, "RangeStart fd00::1 not in network 10.1.0.0/24"],
    [{ subnet: "10.1.0.0/24", rangeEnd: "10.1.1.0" }, "RangeEnd 10.1.1.0 not in network 10.1.0.0/24"],
    // Go's Contains also compares with rangeStart, so an end before the start reads the same
    [
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.50", rangeEnd: "10.1.0.40" },
      "RangeEnd 10.1.0.40 not in network 10.1.0.0/24",
    ],
    [
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.255" },
      "RangeStart 10.1.0.255 is after the default RangeEnd 10.1.0.254 of network 10.1.0.0/24",
    ],
    [
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.x" },
      `invalid rangeStart "10.1.0.x": IPv4 field "x" is not a decimal number of 1 to 3 digits`,
    ],
    [
      { subnet: "10.1.0.0/24", rangeEnd: "10.1.0.300" },
      `invalid rangeEnd "10.1.0.300": IPv4 field 300 is greater than 255`,
    ],
    [{ subnet: "10.1.0.0/24", gateway: "gw" }, `invalid gateway "gw": neither an IPv4 nor an IPv6 address`],
  ];
  for (const [input, msg] of cases) {
    it(`${JSON.stringify(input)} -> ${msg}`, () => {
      assert.throws(
        () => canonicalizeRange(input),
        (e: unknown) => e instanceof RangeConfigError && e.message === msg,
      );
    });
  }
});

describe("range membership and overlap", () => {
  const r = canonicalizeRange({ subnet: "10.1.0.0/24", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.20" });
  it("contains only start..end of its own family", () => {
    assert.ok(rangeContains(r, parseIP("10.1.0.10")));
    assert.ok(rangeContains(r, parseIP("10.1.0.20")));
    assert.ok(!rangeContains(r, parseIP("10.1.0.9")));
    assert.ok(!rangeContains(r, parseIP("10.1.0.21")));
    assert.ok(!rangeContains(r, parseIP("::a01:a")));
    assert.equal(formatRange(r), "10.1.0.10-10.1.0.20");
  });
  it("overlaps by start/end containment", () => {
    const o = (a: RangeInput, b: RangeInput) => rangesOverlap(canonicalizeRange(a), canonicalizeRange(b));
    assert.ok(o({ subnet: "10.1.0.0/24" }, { subnet: "10.1.0.0/16" }));
    assert.ok(!o({ subnet: "10.1.0.0/24", rangeEnd: "10.1.0.9" }, { subnet: "10.1.0.0/24", rangeStart: "10.1.0.10" }));
    assert.ok(!o({ subnet: "10.1.0.0/24" }, { subnet: "fd00::/64" }));
  });
});

describe("range sets (Go RangeSet)", () => {
  it("canonicalises, finds ranges, formats as Go does", () => {
    const set = canonicalizeRangeSet([{ subnet: "10.1.0.0/30" }, { subnet: "10.2.0.0/24", rangeStart: "10.2.0.100" }]);
    assert.equal(formatRangeSet(set), "10.1.0.1-10.1.0.2,10.2.0.100-10.2.0.254");
    assert.equal(rangeFor(set, parseIP("10.2.0.100")), set[1]);
    assert.ok(rangeSetContains(set, parseIP("::ffff:10.1.0.2")));
    assert.ok(!rangeSetContains(set, parseIP("10.2.0.99")));
    // 10.1.0.1-2 minus the gateway .1, plus 155 addresses .100-.254 (gateway .1 is outside)
    assert.equal(rangeSetCapacity(set), 1n + 155n);
    assert.ok(!isAllocatable(set, parseIP("10.1.0.1")));
    assert.ok(isAllocatable(set, parseIP("10.1.0.2")));
  });
  const bad: Array<[RangeInput[], string]> = [
    [[], "empty range set"],
    [[{ subnet: "10.1.0.0/24" }, { subnet: "fd00::/64" }], "mixed address families"],
    [
      [{ subnet: "10.1.0.0/24" }, { subnet: "10.1.0.0/16" }],
      "subnets 10.1.0.1-10.1.0.254 and 10.1.0.1-10.1.255.254 overlap",
    ],
    [
      [{ subnet: "10.1.0.0/24" }, { subnet: "10.1.0.0/33" }],
      `range 1: invalid range "10.1.0.0/33": prefix length 33 is greater than 32 for IPv4`,
    ],
  ];
  for (const [input, msg] of bad) {
    it(`rejects ${JSON.stringify(input)}: ${msg}`, () => {
      assert.throws(
        () => canonicalizeRangeSet(input),
        (e: unknown) => e instanceof RangeConfigError && e.message === msg,
      );
    });
  }
  it("set overlap", () => {
    const a = canonicalizeRangeSet([{ subnet: "10.1.0.0/24" }]);
    const b = canonicalizeRangeSet([{ subnet: "10.2.0.0/24" }, { subnet: "10.1.0.128/25" }]);
    const c = canonicalizeRangeSet([{ subnet: "fd00::/64" }]);
    assert.ok(rangeSetsOverlap(a, b));
    assert.ok(!rangeSetsOverlap(a, c));
  });
});
