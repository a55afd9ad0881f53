import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_SPEC_VERSIONS, generationOf } from "./version.js";
import {
  convertResult,
  parseResult,
  printResult,
  resultToJSON,
  toCurrent,
  type Result,
  type Result020,
  type Result040,
  type Result100As,
} from "./result.js";
import type { CniError } from "./errors.js";

const full: Result = {
  cniVersion: "1.1.0",
  interfaces: [
    { name: "cni0", mac: "00:11:22:33:44:55" },
    { name: "veth3243", mac: "55:44:33:22:11:11", mtu: 1500 },
    { name: "eth0", mac: "99:88:77:66:55:44", mtu: 1500, sandbox: "/var/run/netns/blue", pciID: "0000:04:00.5" },
  ],
  ips: [
    { address: "10.1.0.5/16", gateway: "10.1.0.1", interface: 2 },
    { address: "10.1.0.6/16", interface: 2 },
    { address: "2001:db8::5/64", gateway: "2001:db8::1", interface: 2 },
  ],
  routes: [
    { dst: "0.0.0.0/0", gw: "10.1.0.1", mtu: 1450, priority: 100 },
    { dst: "::/0", gw: "2001:db8::1" },
    { dst: "192.168.0.0/16" },
  ],
  dns: { nameservers: ["10.1.0.1"], search: ["svc.cluster.local"] },
};

describe("convertResult from 1.1.0 to every version", () => {
  for (const to of ALL_SPEC_VERSIONS) {
    it(`[${to}]`, () => {
      const out = convertResult(full, to);
      assert.equal(out.cniVersion, to);
      const gen = generationOf(to);
      if (gen === "100") {
        assert.deepEqual({ ...out, cniVersion: "1.1.0" }, full, "1.0 ↔ 1.1 keep every field");
      } else if (gen === "040") {
        const r = out as Result040;
        assert.deepEqual(
          r.ips?.map((i) => i.version),
          ["4", "4", "6"],
        );
        assert.deepEqual(r.interfaces?.[1], { name: "veth3243", mac: "55:44:33:22:11:11" }, "mtu is lost below 1.0");
        assert.equal(r.routes?.[0]?.mtu, 1450, "route fields survive");
      } else {
        const r = out as Result020;
        assert.deepEqual(r.ip4, {
          ip: "10.1.0.5/16",
          gateway: "10.1.0.1",
          routes: [{ dst: "0.0.0.0/0", gw: "10.1.0.1" }, { dst: "192.168.0.0/16" }],
        });
        assert.deepEqual(r.ip6, {
          ip: "2001:db8::5/64",
          gateway: "2001:db8::1",
          routes: [{ dst: "::/0", gw: "2001:db8::1" }],
        });
        assert.deepEqual(r.dns, full.dns);
      }
    });
  }
});

describe("up-conversions", () => {
  const old: Result020 = {
    cniVersion: "0.2.0",
    ip4: { ip: "10.0.0.2/24", gateway: "10.0.0.1", routes: [{ dst: "0.0.0.0/0" }] },
    ip6: { ip: "fd00::2/64", routes: [{ dst: "::/0", gw: "fd00::1" }] },
    dns: { nameservers: ["1.1.1.1"] },
  };
  for (const to of ALL_SPEC_VERSIONS) {
    it(`0.2.0 → ${to} is lossless for the data that exists`, () => {
      const back = convertResult(convertResult(old, to), "0.2.0");
      assert.deepEqual(back, old);
    });
  }
  it("0.4.0 → 1.0.0 drops version, keeps interface index", () => {
    const r = convertResult(
      { cniVersion: "0.4.0", ips: [{ version: "4", address: "10.0.0.2/24", interface: 0 }], routes: [] } as Result040,
      "1.0.0",
    ) as Result;
    assert.deepEqual(r.ips, [{ address: "10.0.0.2/24", interface: 0 }]);
  });
});

describe("failing conversions", () => {
  for (const to of ["0.1.0", "0.2.0"]) {
    it(`[${to}] an L2-only result cannot be expressed`, () => {
      assert.throws(
        () => convertResult({ cniVersion: "1.0.0", interfaces: [{ name: "eth0" }] }, to),
        (e: CniError) => e.message === "cannot convert: no valid IP addresses",
      );
    });
  }
  it("unknown target version", () =>
    assert.throws(() => convertResult(full, "0.9.0"), /unsupported CNI result version "0.9.0"/));
});

describe("parseResult", () => {
  it("reads a result without cniVersion in the fallback version", () => {
    const { gen, result } = parseResult({ ips: [{ version: "4", address: "10.0.0.2/24" }] }, "0.3.1");
    assert.equal(gen, "040");
    assert.equal(result.cniVersion, "0.3.1");
  });
  it("keeps a 0.x IP's version as written, \"\" when absent (Go's loopback writes none), and any interface index", () => {
    const { result } = parseResult(
      {
        cniVersion: "0.3.1",
        ips: [
          { address: "127.0.0.1/8", interface: -1 },
          { version: "5", address: "::1/128" },
        ],
      },
      "0.3.1",
    );
    assert.deepEqual((result as Result040).ips, [
      { version: "", address: "127.0.0.1/8", interface: -1 },
      { version: "5", address: "::1/128" },
    ]);
    assert.deepEqual(resultToJSON(result)["ips"], [
      { version: "", interface: -1, address: "127.0.0.1/8" },
      { version: "5", address: "::1/128" },
    ]);
    // Go's convertTo02x takes an IP by its version only.
    assert.throws(() => convertResult(result, "0.2.0"), /no valid IP addresses/);
    assert.deepEqual((toCurrent(result) as Result).ips, [
      { address: "127.0.0.1/8", interface: -1 },
      { address: "::1/128" },
    ]);
  });
  it("treats null as an empty result", () =>
    assert.deepEqual(parseResult(null, "1.0.0").result, { cniVersion: "1.0.0" }));
  it("matches keys case-insensitively", () => {
    const { result } = parseResult({ CNIVersion: "1.0.0", IPs: [{ Address: "10.0.0.2/24" }] }, "1.0.0");
    assert.deepEqual((result as Result).ips, [{ address: "10.0.0.2/24" }]);
  });
  const bad: Array<[string, unknown, RegExp]> = [
    [
      "a non-CIDR address",
      { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2" }] },
      /ips\[0\]: "address" must be a CIDR.*"10.0.0.2"/,
    ],
    [
      "a bad gateway",
      { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24", gateway: "x" }] },
      /"gateway" must be an IP address, got "x"/,
    ],
    ["a non-list ips", { cniVersion: "1.0.0", ips: {} }, /"ips" must be a list/],
    ["an unknown version", { cniVersion: "7.0.0" }, /unsupported CNI result version "7.0.0"/],
  ];
  for (const [what, raw, re] of bad) it(`rejects ${what}`, () => assert.throws(() => parseResult(raw, "1.0.0"), re));
});

describe("resultToJSON / printResult (Go's structs)", () => {
  it("every version writes dns, {} when empty (a struct value: omitempty never drops it)", () => {
    assert.deepEqual(resultToJSON({ cniVersion: "0.4.0", routes: [] } as Result040), { cniVersion: "0.4.0", dns: {} });
    assert.deepEqual(resultToJSON({ cniVersion: "0.2.0" }), { cniVersion: "0.2.0", dns: {} });
    assert.deepEqual(resultToJSON({ cniVersion: "1.0.0", dns: {} }), { cniVersion: "1.0.0", dns: {} });
    assert.deepEqual(resultToJSON({ cniVersion: "1.1.0" }), { cniVersion: "1.1.0", dns: {} });
  });
  it("keeps the struct's field order", () => {
    const r = resultToJSON(convertResult(full, "0.4.0"));
    assert.deepEqual(Object.keys(r), ["cniVersion", "interfaces", "ips", "routes", "dns"]);
    assert.deepEqual(Object.keys((r["ips"] as object[])[0]!), ["version", "interface", "address", "gateway"]);
    assert.deepEqual(Object.keys(r["dns"] as object), ["nameservers", "search"]);
  });
  it("1.0.0 has cni 1.1's fields only; 1.1.0 adds mtu, pciID and the route attributes", () => {
    const v1 = resultToJSON(convertResult(full, "1.0.0"));
    assert.deepEqual((v1["interfaces"] as object[])[2], {
      name: "eth0",
      mac: "99:88:77:66:55:44",
      sandbox: "/var/run/netns/blue",
    });
    assert.deepEqual((v1["routes"] as object[])[0], { dst: "0.0.0.0/0", gw: "10.1.0.1" });
    const v11 = resultToJSON(full);
    assert.deepEqual((v11["interfaces"] as object[])[2], {
      name: "eth0",
      mac: "99:88:77:66:55:44",
      mtu: 1500,
      sandbox: "/var/run/netns/blue",
      pciID: "0000:04:00.5",
    });
    assert.deepEqual((v11["routes"] as object[])[0], { dst: "0.0.0.0/0", gw: "10.1.0.1", mtu: 1450, priority: 100 });
  });
  it("writes addresses in Go's canonical text", () => {
    const r = resultToJSON({
      cniVersion: "1.0.0",
      ips: [{ address: "FD00:0200::0005/64", gateway: "fd00:200:0:0::1" }, { address: "::ffff:10.0.0.5/120" }],
      routes: [{ dst: "FD00::/8", gw: "::FFFF:10.0.0.1" }],
    });
    assert.deepEqual(r["ips"], [{ address: "fd00:200::5/64", gateway: "fd00:200::1" }, { address: "10.0.0.5/24" }]);
    assert.deepEqual(r["routes"], [{ dst: "fd00::/8", gw: "10.0.0.1" }]);
  });
  it("a 1.x result under an older label prints in the 1.x shape, as Go's loopback's does", () => {
    const lo: Result100As = {
      cniVersion: "0.2.0",
      shape: "100",
      interfaces: [{ name: "lo", mac: "00:00:00:00:00:00" }],
      ips: [{ interface: 0, address: "127.0.0.1/8" }],
    };
    assert.equal(
      printResult(lo, "0.2.0"),
      '{\n    "cniVersion": "0.2.0",\n    "interfaces": [\n        {\n            "name": "lo",\n            "mac": "00:00:00:00:00:00"\n        }\n    ],\n    "ips": [\n        {\n            "interface": 0,\n            "address": "127.0.0.1/8"\n        }\n    ],\n    "dns": {}\n}',
    );
  });
  it("escapes as Go does", () => {
    assert.equal(
      printResult({ cniVersion: "0.2.0", ip4: { ip: "10.0.0.2/24" }, dns: { domain: "a<b>&\u2028" } }, "0.2.0")
        .split("\n")
        .at(-3),
      '        "domain": "a\\u003cb\\u003e\\u0026\\u2028"',
    );
  });
  it("toCurrent labels any result as 1.x", () => {
    const r = toCurrent({
      cniVersion: "0.3.1",
      ips: [{ version: "4", address: "10.0.0.2/24" }],
      routes: [],
    } as Result040);
    assert.deepEqual(r, { cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/24" }] });
  });
});
