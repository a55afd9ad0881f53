import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chooseMtu, findMinMtu, IFF_LOOPBACK, IFF_POINTOPOINT, IFF_UP } from "./mtu.js";

const l = (name: string, mtu: number, flags = IFF_UP) => ({ name, mtu, flags });

describe("kubenet MTU rule", () => {
  it("smallest MTU among up, non-loopback, non-point-to-point interfaces", () => {
    assert.deepEqual(
      findMinMtu([
        l("lo", 65536, IFF_UP | IFF_LOOPBACK),
        l("eth0", 9001),
        l("docker0", 1500),
        l("down0", 1000, 0),
        l("tun0", 1400, IFF_UP | IFF_POINTOPOINT),
      ]),
      { name: "docker0", mtu: 1500 },
    );
  });
  it("the first interface wins a tie", () =>
    assert.deepEqual(findMinMtu([l("a", 1500), l("b", 1500)]), { name: "a", mtu: 1500 }));
  it("no candidate, or one below 576, is an error", () => {
    assert.match(String(findMinMtu([l("lo", 65536, IFF_UP | IFF_LOOPBACK)])), /no suitable interface: cbr0/);
    assert.ok(findMinMtu([l("x", 500)]) instanceof Error);
    assert.ok(findMinMtu([l("x", 999999)]) instanceof Error);
    assert.deepEqual(findMinMtu([l("x", 576)]), { name: "x", mtu: 576 });
  });
  it("the flag overrides; the fallback is 1460", () => {
    assert.deepEqual(chooseMtu(8873, [l("eth0", 9001)]), { mtu: 8873, source: "flag" });
    assert.deepEqual(chooseMtu(0, [l("eth0", 9001)]), { mtu: 9001, source: "interface", from: "eth0" });
    assert.deepEqual(chooseMtu(0, []), { mtu: 1460, source: "fallback", reason: "no suitable interface: cbr0" });
  });
});
