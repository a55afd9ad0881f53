import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseCidr, formatNetwork } from "../ip/index.js";
import { ClusterConfigError, clusterRanges, freeBlockCount, nthFreeBlock, parseClusterCidrs } from "./blocks.js";
import { KeyLayout } from "./keys.js";

const cidrs = (...s: string[]) => s.map((x) => parseCidr(x));
const range = (c: string, m?: string) => clusterRanges(parseClusterCidrs(c), m)[0]!;

describe("cluster flags", () => {
  it("parses one CIDR per family, IPv4 first, and refuses the rest naming the flag", () => {
    assert.deepEqual(parseClusterCidrs("fd00:200::/48,10.200.0.0/16").map(formatNetwork), [
      "10.200.0.0/16",
      "fd00:200::/48",
    ]);
    assert.throws(() => parseClusterCidrs("10.200.0.0/16,10.201.0.0/16"), /--cluster-cidr: .*two IPv4 CIDRs/);
    assert.throws(
      () => parseClusterCidrs("10.200.0.1/16"),
      /--cluster-cidr: "10\.200\.0\.1\/16" has host bits set \(did you mean 10\.200\.0\.0\/16\?\)/,
    );
    assert.throws(() => parseClusterCidrs("10.200.0.0/16,"), ClusterConfigError);
    assert.throws(() => parseClusterCidrs("banana"), /--cluster-cidr: "banana" is not a CIDR: invalid CIDR address/);
    assert.throws(() => parseClusterCidrs("0.0.0.0/0"), /--cluster-cidr: 0\.0\.0\.0\/0 is the whole address space/);
  });
  it("applies --node-cidr-mask-size V4[,V6] with the defaults 24 and 64", () => {
    const two = parseClusterCidrs("10.200.0.0/16,fd00:200::/48");
    assert.deepEqual(
      clusterRanges(two).map((r) => r.maskSize),
      [24, 64],
    );
    assert.deepEqual(
      clusterRanges(two, "26,80").map((r) => r.maskSize),
      [26, 80],
    );
    assert.deepEqual(
      clusterRanges(two, "26").map((r) => r.maskSize),
      [26, 64],
    );
    assert.deepEqual(
      clusterRanges(parseClusterCidrs("fd00:200::/48"), "56").map((r) => r.maskSize),
      [56],
    );
    assert.throws(
      () => clusterRanges(parseClusterCidrs("10.200.0.0/16"), "12"),
      /--node-cidr-mask-size: IPv4 mask size 12 is shorter than the cluster CIDR 10\.200\.0\.0\/16/,
    );
    assert.throws(() => clusterRanges(parseClusterCidrs("10.200.0.0/16"), "31"), /not in 8\.\.30/);
    assert.throws(() => clusterRanges(parseClusterCidrs("10.200.0.0/16"), "x"), /is not V4\[,V6\]/);
  });
});

describe("free blocks", () => {
  it("finds the lowest free block around taken ones of any size", () => {
    const r = range("10.200.0.0/16");
    assert.equal(formatNetwork(nthFreeBlock(r, [])!), "10.200.0.0/24");
    assert.equal(
      formatNetwork(nthFreeBlock(r, cidrs("10.200.0.0/24", "10.200.1.0/24", "10.200.3.0/24"))!),
      "10.200.2.0/24",
    );
    assert.equal(formatNetwork(nthFreeBlock(r, cidrs("10.200.0.0/23", "10.200.2.128/25"))!), "10.200.3.0/24");
    assert.equal(
      formatNetwork(nthFreeBlock(r, cidrs("10.200.0.0/24", "10.200.1.0/24", "10.200.3.0/24"), 1)!),
      "10.200.4.0/24",
    );
    assert.equal(nthFreeBlock(r, cidrs("10.0.0.0/8")), undefined);
  });
  it("ignores other families and blocks outside the range; counts what is free", () => {
    const r = range("10.200.0.0/22");
    const taken = cidrs("10.200.1.0/24", "10.199.0.0/16", "fd00::/64", "10.200.3.0/25");
    assert.equal(freeBlockCount(r, taken), 2n);
    assert.equal(formatNetwork(nthFreeBlock(r, taken, 1)!), "10.200.2.0/24");
    assert.equal(nthFreeBlock(r, taken, 2), undefined);
  });
  it("handles IPv6 ranges of 2^64 blocks without enumerating them", () => {
    const r = range("fd00:200::/32", "96");
    const taken = [parseCidr("fd00:200::/96"), parseCidr("fd00:200::1:0:0/96")];
    assert.equal(formatNetwork(nthFreeBlock(r, taken)!), "fd00:200::2:0:0/96");
    assert.equal(freeBlockCount(r, taken), (1n << 64n) - 2n);
  });
});

describe("key layout", () => {
  const k = new KeyLayout("/podnet");
  it("writes block keys at a fixed width and reads them back", () => {
    assert.equal(k.block(parseCidr("10.244.1.0/24")), "/podnet/blocks/010.244.001.000-24");
    assert.equal(k.block(parseCidr("fd00:10:0:1::/64")), "/podnet/blocks/fd00:0010:0000:0001:0000:0000:0000:0000-64");
    assert.equal(formatNetwork(k.parseBlock("/podnet/blocks/010.244.001.000-24")!), "10.244.1.0/24");
    assert.equal(k.parseBlock("/podnet/blocks/010.244.001.001-24"), undefined, "host bits");
    assert.equal(k.parseBlock("/podnet/blocks/10.244.1.0-24"), undefined, "not fixed width");
    assert.equal(k.parseBlock("/podnet/nodes/a"), undefined);
  });
  it("puts every overlapping block under one of the conflict conditions", () => {
    const c = parseCidr("10.200.4.0/24");
    const conds = k.conflictConditions(c, 16);
    const exact = conds.filter((x) => x.kind === "absent" && x.rangeEnd === undefined).map((x) => x.key);
    assert.equal(exact.length, 8);
    assert.ok(exact.includes(k.block(parseCidr("10.200.4.0/22"))));
    assert.ok(exact.includes(k.block(parseCidr("10.200.0.0/16"))));
    const rg = conds.find((x) => x.kind === "absent" && x.rangeEnd !== undefined)!;
    const inRange = (key: string) => rg.kind === "absent" && key >= rg.key && key < rg.rangeEnd!;
    for (const s of ["10.200.4.0/24", "10.200.4.0/25", "10.200.4.128/25", "10.200.4.255/32"])
      assert.ok(inRange(k.block(parseCidr(s))), s);
    for (const s of ["10.200.3.0/24", "10.200.5.0/24", "10.200.40.0/24"]) assert.ok(!inRange(k.block(parseCidr(s))), s);
    for (const s of ["fd00::/64", "10ff::/16", "0100::/16"]) assert.ok(!inRange(k.block(parseCidr(s))), s);
  });
  it("checks prefixes and node names", () => {
    assert.throws(() => new KeyLayout("podnet"), /--etcd-prefix: "podnet" is not a key prefix/);
    assert.throws(() => new KeyLayout("/podnet/"), /--etcd-prefix/);
    assert.equal(k.nameOf("/podnet/nodes/node-1.example"), "node-1.example");
    assert.equal(k.nameOf("/podnet/nodes/Bad_Name"), undefined);
  });
});
