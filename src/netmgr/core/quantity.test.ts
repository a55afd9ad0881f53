import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ERR_FORMAT_WRONG, ERR_NUMERIC, ERR_SUFFIX, parseQuantity, QuantityError, quantityValue } from "./quantity.js";
import { BandwidthError, bandwidthCapability, extractPodBandwidth, formatRate } from "./bandwidth.js";

const value = (s: string) => quantityValue(parseQuantity(s));
const INT64_MAX = (1n << 63n) - 1n;

describe("resource.ParseQuantity + Value()", () => {
  const ok: Array<[string, bigint]> = [
    ["1M", 1_000_000n],
    ["1Mi", 1_048_576n],
    ["10Mi", 10_485_760n],
    ["500k", 500_000n],
    ["1e6", 1_000_000n],
    ["1E6", 1_000_000n],
    ["500", 500n],
    ["1m", 1n],
    ["1.5", 2n],
    ["0.1", 1n],
    ["2P", 2_000_000_000_000_000n],
    ["1Ki", 1024n],
    ["1k", 1000n],
    ["0", 0n],
    ["000", 0n],
    ["-0", 0n],
    ["+5", 5n],
    ["1.", 1n],
    [".5k", 500n],
    ["1.5Gi", 1_610_612_736n],
    ["1E", 1_000_000_000_000_000_000n],
    ["-1M", -1_000_000n],
    ["-1.5", -2n],
    ["1n", 1n],
    ["1.5n", 1n],
    ["123456789012345678901234", INT64_MAX],
    ["10E", INT64_MAX],
    ["8Ei", INT64_MAX],
    ["1e-3", 1n],
    ["1e+3", 1000n],
    ["12e-1", 2n],
    ["1e4294967296", 1n], // int32(4294967296) == 0
  ];
  for (const [s, v] of ok) it(`${JSON.stringify(s)} → ${v}`, () => assert.equal(value(s), v));

  const bad: Array<[string, string]> = [
    ["", ERR_FORMAT_WRONG],
    ["10Q", ERR_FORMAT_WRONG],
    ["fast", ERR_FORMAT_WRONG],
    [" 1M", ERR_FORMAT_WRONG],
    ["1M ", ERR_FORMAT_WRONG],
    ["1.2.3", ERR_FORMAT_WRONG],
    ["1Mi1", ERR_SUFFIX],
    ["1M-", ERR_SUFFIX],
    ["1Mx", ERR_FORMAT_WRONG],
    ["1K", ERR_SUFFIX],
    ["1ki", ERR_SUFFIX],
    ["1e", ERR_SUFFIX],
    ["1e+", ERR_SUFFIX],
    ["1MM", ERR_SUFFIX],
    ["1Ee3", ERR_SUFFIX],
    ["9999999999999999999", ERR_NUMERIC], // 19 digits > 2^63-1 fail in the int64 fast path
    ["e-10", ERR_NUMERIC],
    ["-e-10", ERR_NUMERIC],
  ];
  for (const [s, m] of bad) {
    it(`${JSON.stringify(s)} → ${m.slice(0, 40)}…`, () =>
      assert.throws(
        () => parseQuantity(s),
        (e: QuantityError) => e instanceof QuantityError && e.message === m,
      ));
  }
  it("the format error quotes the kubelet's regular expression", () =>
    assert.equal(
      ERR_FORMAT_WRONG,
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    ));
  it("a 20-digit number takes the decimal path and parses", () =>
    assert.equal(value("10000000000000000000"), INT64_MAX));
});

describe("bandwidth annotations", () => {
  const I = "kubernetes.io/ingress-bandwidth";
  const E = "kubernetes.io/egress-bandwidth";
  it("no annotations: no limits", () => {
    assert.deepEqual(extractPodBandwidth(undefined), {});
    assert.deepEqual(extractPodBandwidth({ other: "x" }), {});
  });
  it("1M in, 10Mi out", () =>
    assert.deepEqual(extractPodBandwidth({ [I]: "1M", [E]: "10Mi" }), { ingress: 1_000_000, egress: 10_485_760 }));
  it("1k and 1P are the limits (inclusive)", () =>
    assert.deepEqual(extractPodBandwidth({ [I]: "1k", [E]: "1P" }), { ingress: 1000, egress: 1e15 }));
  const cases: Array<[string, string]> = [
    ["500", "resource is unreasonably small (< 1kbit)"],
    ["1m", "resource is unreasonably small (< 1kbit)"],
    ["-1M", "resource is unreasonably small (< 1kbit)"],
    ["999", "resource is unreasonably small (< 1kbit)"],
    ["2P", "resource is unreasonably large (> 1Pbit)"],
    ["1000000000000001", "resource is unreasonably large (> 1Pbit)"],
    ["10Q", "quantities must match the regular expression"],
    ["1K", "unable to parse quantity's suffix"],
  ];
  for (const [v, why] of cases) {
    it(`${JSON.stringify(v)} is rejected naming the annotation and the value`, () =>
      assert.throws(
        () => extractPodBandwidth({ [E]: v }),
        (e: BandwidthError) =>
          e instanceof BandwidthError &&
          e.annotation === E &&
          e.value === v &&
          e.message.startsWith(`metadata.annotations["${E}"]: ${JSON.stringify(v)}: ${why}`),
      ));
  }
  it("ingress is checked before egress", () =>
    assert.throws(
      () => extractPodBandwidth({ [E]: "10Q", [I]: "1" }),
      (e: BandwidthError) => e.annotation === I,
    ));
  it("capability: rates in bits/s, burst MaxInt32, absent direction omitted", () => {
    assert.equal(bandwidthCapability({}), undefined);
    assert.deepEqual(bandwidthCapability({ ingress: 1_000_000 }), { ingressRate: 1_000_000, ingressBurst: 2147483647 });
    assert.deepEqual(bandwidthCapability({ ingress: 1, egress: 2 }), {
      ingressRate: 1,
      ingressBurst: 2147483647,
      egressRate: 2,
      egressBurst: 2147483647,
    });
  });
  it("formats rates", () => {
    assert.equal(formatRate(10_000_000), "10Mbit/s");
    assert.equal(formatRate(10_485_760), "10.5Mbit/s");
    assert.equal(formatRate(1500), "1.50kbit/s");
  });
});
