import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CniError } from "../../../cni/index.js";
import { isZero, parseConfig, shapesEgress, shapesIngress } from "./config.js";

const base = { cniVersion: "1.0.0", name: "net", type: "bandwidth" };
const msg = (c: Record<string, unknown>): string => {
  try {
    parseConfig({ ...base, ...c }, "1.0.0");
  } catch (e) {
    assert.ok(e instanceof CniError);
    assert.equal(e.code, 7);
    return e.message;
  }
  assert.fail("no error");
};

describe("bandwidth config", () => {
  it("top-level values win over the capability as soon as one of them is there (Go's embedded pointer)", () => {
    const c = parseConfig(
      {
        ...base,
        ingressRate: 8000,
        ingressBurst: 800,
        runtimeConfig: { bandwidth: { egressRate: 1, egressBurst: 1 } },
      },
      "1.0.0",
    );
    assert.deepEqual(c.bandwidth, { ingressRate: 8000, ingressBurst: 800, egressRate: 0, egressBurst: 0 });
    assert.equal(c.source, "config");
  });

  it("the capability, with containerd's Go field names", () => {
    const c = parseConfig(
      {
        ...base,
        runtimeConfig: {
          Bandwidth: {
            IngressRate: 10_000_000,
            IngressBurst: 2147483647,
            EgressRate: 1_000_000,
            EgressBurst: 2147483647,
          },
        },
      },
      "1.0.0",
    );
    assert.deepEqual(c.bandwidth, {
      ingressRate: 10_000_000,
      ingressBurst: 2147483647,
      egressRate: 1_000_000,
      egressBurst: 2147483647,
    });
    assert.ok(shapesIngress(c.bandwidth) && shapesEgress(c.bandwidth));
  });

  it("nothing, or all zero: no shaping", () => {
    assert.ok(isZero(parseConfig(base, "1.0.0").bandwidth));
    assert.ok(isZero(parseConfig({ ...base, runtimeConfig: { bandwidth: { ingressRate: 0 } } }, "1.0.0").bandwidth));
  });

  it("Go's validation, naming the fields and the values", () => {
    assert.equal(
      msg({ ingressRate: 1000 }),
      'invalid bandwidth config: "ingressRate" is 1000 but "ingressBurst" is 0: if rate is set, burst must also be set',
    );
    assert.equal(
      msg({ egressBurst: 800 }),
      'invalid bandwidth config: "egressBurst" is 800 but "egressRate" is 0: if burst is set, rate must also be set',
    );
    assert.equal(
      msg({ ingressRate: 1000, ingressBurst: 8 * 0xffffffff }),
      `invalid bandwidth config: "ingressBurst" is ${8 * 0xffffffff}: burst cannot be more than 4GB`,
    );
    assert.equal(
      msg({ runtimeConfig: { bandwidth: { egressRate: 0, egressBurst: 100 } } }),
      'invalid bandwidth config: "runtimeConfig.bandwidth.egressBurst" is 100 but "runtimeConfig.bandwidth.egressRate" is 0: if burst is set, rate must also be set',
    );
  });

  it("what Go lets through and mishandles: negative, fractional, sub-byte rates, strings", () => {
    assert.equal(
      msg({ ingressRate: -8000, ingressBurst: 800 }),
      'invalid bandwidth config: "ingressRate" must not be negative, got -8000',
    );
    assert.equal(
      msg({ ingressRate: 8000.5, ingressBurst: 800 }),
      'invalid bandwidth config: "ingressRate" must be a whole number of bits, got 8000.5',
    );
    assert.equal(
      msg({ egressRate: 7, egressBurst: 800 }),
      'invalid bandwidth config: "egressRate" must be at least 8 bits/s (one byte per second), got 7',
    );
    assert.equal(
      msg({ egressRate: "1M", egressBurst: 800 }),
      'invalid bandwidth config: "egressRate" must be a number, got "1M"',
    );
  });
});
