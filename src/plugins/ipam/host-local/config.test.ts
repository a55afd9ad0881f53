import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_SPEC_VERSIONS, CniError, type JsonObject } from "../../../cni/index.js";
import { formatIP } from "../../../ip/index.js";
import { DEFAULT_DATA_DIR, loadIPAMConfig } from "./config.js";
import { formatRangeSet } from "./range-set.js";

const load = (conf: JsonObject, envArgs = "", files: Record<string, string> = {}) =>
  loadIPAMConfig(conf, envArgs, {
    readFileLimited: async (p) => {
      const t = files[p];
      if (t === undefined)
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: "ENOENT" });
      return t;
    },
  });
const base = (ipam: JsonObject, extra: JsonObject = {}): JsonObject => ({
  cniVersion: "1.0.0",
  name: "mynet",
  ipam: { type: "host-local", ...ipam },
  ...extra,
});
const sets = async (conf: JsonObject, envArgs = "") => (await load(conf, envArgs)).ipam.ranges.map(formatRangeSet);

describe("loadIPAMConfig: range sets", () => {
  it("reads ranges, defaults dataDir, keeps name/type/resolvConf", async () => {
    const { ipam, cniVersion } = await load(
      base({ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]], resolvConf: "/etc/r" }),
    );
    assert.equal(cniVersion, "1.0.0");
    assert.equal(ipam.name, "mynet");
    assert.equal(ipam.type, "host-local");
    assert.equal(ipam.dataDir, DEFAULT_DATA_DIR);
    assert.equal(ipam.resolvConf, "/etc/r");
    assert.deepEqual(ipam.ranges.map(formatRangeSet), ["10.1.0.1-10.1.0.254", "fd00::1-fd00::ffff:ffff:ffff:ffff"]);
    assert.deepEqual(ipam.ipArgs, []);
  });
  it("orders runtimeConfig.ipRanges, then the legacy range, then ipam.ranges", async () => {
    const got = await sets(
      base(
        {
          subnet: "10.2.0.0/24",
          rangeStart: "10.2.0.10",
          gateway: "10.2.0.254",
          ranges: [[{ subnet: "10.3.0.0/24" }]],
        },
        { runtimeConfig: { ipRanges: [[{ subnet: "10.1.0.0/24" }]] } },
      ),
    );
    assert.deepEqual(got, ["10.1.0.1-10.1.0.254", "10.2.0.10-10.2.0.254", "10.3.0.1-10.3.0.254"]);
  });
  it("matches keys without case (containerd's ipRanges, upper-case ipam keys)", async () => {
    const { ipam } = await load({
      cniVersion: "1.0.0",
      Name: "x",
      name: "mynet",
      IPAM: {
        Type: "host-local",
        DataDir: "/tmp/d",
        Ranges: [[{ Subnet: "10.9.0.0/24", RangeStart: "", RangeEnd: "", Gateway: "" }]],
      },
      RuntimeConfig: {
        IPRanges: [[{ Subnet: "10.1.0.0/24", RangeStart: "10.1.0.5", RangeEnd: "", Gateway: "" }]],
        IPs: ["10.1.0.9"],
      },
    });
    assert.equal(ipam.name, "mynet"); // the last matching key wins
    assert.equal(ipam.dataDir, "/tmp/d");
    assert.deepEqual(ipam.ranges.map(formatRangeSet), ["10.1.0.5-10.1.0.254", "10.9.0.1-10.9.0.254"]);
    assert.deepEqual(ipam.ipArgs.map(formatIP), ["10.1.0.9"]);
  });
  it("ignores a legacy range without subnet", async () => {
    assert.deepEqual(await sets(base({ rangeStart: "10.0.0.5", ranges: [[{ subnet: "10.3.0.0/24" }]] })), [
      "10.3.0.1-10.3.0.254",
    ]);
  });
  it("reads rangeFromFile only when nothing else is configured", async () => {
    const { ipam } = await load(base({ rangeFromFile: "/etc/r.json" }), "", {
      "/etc/r.json": '{"subnet":"10.7.0.0/24","rangeStart":"10.7.0.100"}',
    });
    assert.deepEqual(ipam.ranges.map(formatRangeSet), ["10.7.0.100-10.7.0.254"]);
    await assert.rejects(load(base({ rangeFromFile: "/nope" })), /failed to read rangeFromFile "\/nope": ENOENT/);
  });
  it("copies routes in canonical text, keeping host bits and 1.1 fields", async () => {
    const { ipam } = await load(
      base({
        subnet: "10.1.0.0/24",
        routes: [
          { dst: "0.0.0.0/0" },
          { dst: "192.168.0.5/16", gw: "10.10.5.1" },
          { dst: "3ffe:ffff:0:01ff::1/64", priority: 100, table: 0, mtu: 0 },
        ],
      }),
    );
    assert.deepEqual(ipam.routes, [
      { dst: "0.0.0.0/0" },
      { dst: "192.168.0.5/16", gw: "10.10.5.1" },
      { dst: "3ffe:ffff:0:1ff::1/64", priority: 100, table: 0 },
    ]);
  });
});

describe("loadIPAMConfig: requested IPs", () => {
  it("collects CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips, canonical and deduplicated", async () => {
    const { ipam } = await load(
      base(
        { subnet: "10.1.0.0/24" },
        {
          args: { cni: { ips: ["10.1.0.7/24", "::ffff:10.1.0.8"] } },
          runtimeConfig: { ips: ["10.1.0.9", "fd00::0009", "10.1.0.7"] },
        },
      ),
      "IgnoreUnknown=1;K8S_POD_NAME=web-0;IP=10.1.0.5,10.1.0.6",
    );
    assert.deepEqual(ipam.ipArgs.map(formatIP), [
      "10.1.0.5",
      "10.1.0.6",
      "10.1.0.7",
      "10.1.0.8",
      "10.1.0.9",
      "fd00::9",
    ]);
  });
  it("rejects unknown CNI_ARGS keys without IgnoreUnknown (code 4), and lower-case ip=", async () => {
    await assert.rejects(
      load(base({ subnet: "10.1.0.0/24" }), "K8S_POD_NAME=x"),
      (e: unknown) => e instanceof CniError && e.code === 4,
    );
    await assert.rejects(load(base({ subnet: "10.1.0.0/24" }), "ip=10.1.0.5"), /unknown args/);
  });
  const bad: Array<[JsonObject, string, number, RegExp]> = [
    [
      {},
      "IP=10.1.0.300",
      4,
      /^cannot understand ip: CNI_ARGS IP=10\.1\.0\.300: invalid IP address "10\.1\.0\.300": IPv4 field 300/,
    ],
    [
      { args: { cni: { ips: ["nope"] } } },
      "",
      7,
      /^cannot understand ip: args\.cni\.ips\[0\]: invalid IP address "nope"/,
    ],
    [
      { runtimeConfig: { ips: ["10.1.0.0/33"] } },
      "",
      7,
      /^cannot understand ip: runtimeConfig\.ips\[0\]: invalid CIDR address "10\.1\.0\.0\/33"/,
    ],
    [
      { runtimeConfig: { ips: [5] } },
      "",
      7,
      /^invalid host-local config: "runtimeConfig\.ips\.0" must be string, got 5/,
    ],
  ];
  for (const [extra, envArgs, code, msg] of bad) {
    it(`rejects ${JSON.stringify(extra)} ${envArgs}`, async () => {
      await assert.rejects(load(base({ subnet: "10.1.0.0/24" }, extra), envArgs), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, code);
        assert.match(e.message, msg);
        return true;
      });
    });
  }
});

describe("loadIPAMConfig: validation errors (code 7, named field and value)", () => {
  const cases: Array<[JsonObject, string]> = [
    [{ cniVersion: "1.0.0", name: "n" }, "IPAM config missing 'ipam' key"],
    [{ cniVersion: "1.0.0", name: "n", ipam: null }, "IPAM config missing 'ipam' key"],
    [base({}), "no IP ranges specified"],
    [base({ ranges: [] }), "no IP ranges specified"],
    [base({ ranges: [[]] }), "invalid range set 0: empty range set"],
    [
      base({ ranges: [[{ subnet: "10.1.0.0/33" }]] }),
      `invalid range set 0: ipam.ranges[0][0]: invalid range "10.1.0.0/33": prefix length 33 is greater than 32 for IPv4`,
    ],
    [base({ subnet: "10.1.0.0/31" }), "invalid range set 0: ipam: Network 10.1.0.0/31 too small to allocate from"],
    [
      base({}, { runtimeConfig: { ipRanges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.2.0.1" }]] } }),
      "invalid range set 0: runtimeConfig.ipRanges[0][0]: RangeStart 10.2.0.1 not in network 10.1.0.0/24",
    ],
    [
      base({ ranges: [[{ subnet: "10.1.0.0/24" }, { subnet: "fd00::/64" }]] }),
      "invalid range set 0: mixed address families",
    ],
    [base({ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.1.0.0/16" }]] }), "range set 0 overlaps with 1"],
    [
      base({ subnet: "10.1.0.0/24", ranges: [[{ subnet: "10.2.0.0/24" }], [{ subnet: "10.1.0.128/25" }]] }),
      "range set 0 overlaps with 2",
    ],
    [base({ ranges: "10.1.0.0/24" }), `invalid host-local config: "ipam.ranges" must be Array, got "10.1.0.0/24"`],
    [
      base({ ranges: [[{ subnet: 10 }]] }),
      `invalid host-local config: "ipam.ranges.0.0.subnet" must be string, got 10`,
    ],
    [
      base({ subnet: "10.1.0.0/24", routes: [{ dst: "10.0.0.0/40" }] }),
      `invalid ipam.routes[0].dst "10.0.0.0/40": prefix length 40 is greater than 32 for IPv4`,
    ],
    [base({ subnet: "10.1.0.0/24", routes: [{ gw: "10.0.0.1" }] }), `invalid ipam.routes[0]: missing "dst"`],
    [
      base({ subnet: "10.1.0.0/24", routes: [{ dst: "0.0.0.0/0", gw: "x" }] }),
      `invalid ipam.routes[0].gw "x": neither an IPv4 nor an IPv6 address`,
    ],
  ];
  for (const [conf, msg] of cases) {
    it(msg, async () => {
      await assert.rejects(load(conf), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, 7);
        assert.equal(e.message, msg);
        return true;
      });
    });
  }
});

describe("loadIPAMConfig: more than one address per family needs spec 0.3.0", () => {
  const twoV4 = { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.2.0.0/24" }]] };
  const dual = { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] };
  for (const ver of ALL_SPEC_VERSIONS) {
    const old = ver === "0.1.0" || ver === "0.2.0";
    it(`[${ver}] two IPv4 range sets ${old ? "rejected" : "accepted"}; one per family always accepted`, async () => {
      const p = load({ ...base(twoV4), cniVersion: ver });
      if (old)
        await assert.rejects(
          p,
          new RegExp(`CNI version ${ver.replace(/\./g, "\\.")} does not support more than 1 address per family`),
        );
      else assert.equal((await p).ipam.ranges.length, 2);
      assert.equal((await load({ ...base(dual), cniVersion: ver })).ipam.ranges.length, 2);
    });
  }
  it("a missing cniVersion counts as 0.1.0", async () => {
    const { cniVersion: _c, ...noVersion } = base(twoV4);
    await assert.rejects(load(noVersion), /CNI version {2}does not support/);
  });
});
