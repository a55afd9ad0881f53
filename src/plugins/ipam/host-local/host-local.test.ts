import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { ALL_SPEC_VERSIONS, CniError, specHas, type JsonObject } from "../../../cni/index.js";
import { hostLocalAdd, hostLocalCheck, hostLocalDel, hostLocalGc, hostLocalStatus } from "./host-local.js";
import { netConf, runVerb, testDeps, withTempDir } from "./testing.js";

const dual = (d: string) => ({ ranges: [[{ subnet: "10.200.0.0/29" }], [{ subnet: "fd00:200::/125" }]], dataDir: d });
const files = async (d: string) => (await fs.readdir(join(d, "net1"))).filter((f) => f !== "lock").sort();

/** What each spec version's result must look like for one IPv4 and one IPv6 address. */
function expectedResult(ver: string, v4: string, v6: string, routes: JsonObject[]): JsonObject {
  if (ver === "0.1.0" || ver === "0.2.0") {
    const r4 = routes.filter((r) => !String(r["dst"]).includes(":"));
    const r6 = routes.filter((r) => String(r["dst"]).includes(":"));
    return {
      cniVersion: ver,
      ip4: { ip: `${v4}/29`, gateway: "10.200.0.1", ...(r4.length ? { routes: r4 } : {}) },
      ip6: { ip: `${v6}/125`, gateway: "fd00:200::1", ...(r6.length ? { routes: r6 } : {}) },
      dns: {},
    };
  }
  const old = ver.startsWith("0.");
  return {
    cniVersion: ver,
    ips: [
      { ...(old ? { version: "4" } : {}), address: `${v4}/29`, gateway: "10.200.0.1" },
      { ...(old ? { version: "6" } : {}), address: `${v6}/125`, gateway: "fd00:200::1" },
    ],
    ...(routes.length ? { routes } : {}),
    dns: {}, // every version, as the reference prints it
  };
}

describe("host-local through the dispatcher, every spec version", () => {
  for (const ver of ALL_SPEC_VERSIONS) {
    it(`[${ver}] ADD, CHECK, DEL, GC and STATUS with one IPv4 and one IPv6 range set`, () =>
      withTempDir(async (d) => {
        const deps = testDeps();
        const routes = [{ dst: "0.0.0.0/0" }, { dst: "::/0", gw: "fd00:200::1" }];
        const conf = netConf(d, { ...dual(d), routes }, {}, ver);
        const add = await runVerb(deps, "ADD", conf, { containerID: "c1", ifName: "eth0" });
        assert.equal(add.code, 0, add.stdout);
        assert.deepEqual(add.json, expectedResult(ver, "10.200.0.2", "fd00:200::2", routes));
        assert.deepEqual(await files(d), ["10.200.0.2", "fd00:200::2", "last_reserved_ip.0", "last_reserved_ip.1"]);

        const add2 = await runVerb(deps, "ADD", conf, { containerID: "c2", ifName: "eth0" });
        assert.deepEqual(add2.json, expectedResult(ver, "10.200.0.3", "fd00:200::3", routes));

        if (specHas(ver, "CHECK")) {
          assert.equal((await runVerb(deps, "CHECK", conf, { containerID: "c1", ifName: "eth0" })).code, 0);
          const miss = await runVerb(deps, "CHECK", conf, { containerID: "c9", ifName: "eth0" });
          assert.equal(miss.code, 1);
          assert.equal(miss.json?.["msg"], "host-local: Failed to find address added by container c9");
        }

        const del = await runVerb(deps, "DEL", conf, { containerID: "c1", ifName: "eth0" });
        assert.equal(del.code, 0, del.stdout);
        assert.equal(del.stdout, "");
        assert.equal((await runVerb(deps, "DEL", conf, { containerID: "c1", ifName: "eth0" })).code, 0); // repeatable
        assert.deepEqual(await files(d), ["10.200.0.3", "fd00:200::3", "last_reserved_ip.0", "last_reserved_ip.1"]);

        const gcConf = { ...conf, "cni.dev/valid-attachments": [] };
        const gc = await runVerb(deps, "GC", gcConf);
        const status = await runVerb(deps, "STATUS", conf);
        if (specHas(ver, "GC")) {
          assert.equal(gc.code, 0, gc.stdout);
          assert.equal(status.code, 0, status.stdout);
          assert.deepEqual(await files(d), ["last_reserved_ip.0", "last_reserved_ip.1"]);
        } else {
          assert.equal(gc.code, 1);
          assert.equal(gc.json?.["code"], 1); // skel: config version does not allow GC
          assert.equal(status.json?.["code"], 1);
        }
      }));
  }
});

describe("ADD", () => {
  it("round robin across ADD/DEL: a re-created container gets the next address, and wraps", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, { subnet: "10.200.0.0/29", dataDir: d });
      const got: string[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await hostLocalAdd(conf, { containerID: "c1", ifName: "eth0" }, deps);
        got.push(r.ips![0]!.address);
        await hostLocalDel(conf, { containerID: "c1", ifName: "eth0" }, deps);
      }
      assert.deepEqual(got, [
        "10.200.0.2/29",
        "10.200.0.3/29",
        "10.200.0.4/29",
        "10.200.0.5/29",
        "10.200.0.6/29",
        "10.200.0.2/29",
        "10.200.0.3/29",
      ]);
    }));

  it("returns routes and dns from resolvConf", () =>
    withTempDir(async (d) => {
      await fs.writeFile(join(d, "resolv.conf"), "nameserver 10.0.0.10\nsearch a b\n");
      const conf = netConf(d, {
        subnet: "10.200.0.0/24",
        routes: [{ dst: "0.0.0.0/0" }],
        resolvConf: join(d, "resolv.conf"),
        dataDir: d,
      });
      const r = await hostLocalAdd(conf, { containerID: "c1", ifName: "eth0" }, testDeps());
      assert.deepEqual(r, {
        cniVersion: "1.1.0",
        ips: [{ address: "10.200.0.2/24", gateway: "10.200.0.1" }],
        routes: [{ dst: "0.0.0.0/0" }],
        dns: { nameservers: ["10.0.0.10"], search: ["a", "b"] },
      });
      const missing = netConf(d, { subnet: "10.200.0.0/24", resolvConf: join(d, "nope"), dataDir: d });
      await assert.rejects(hostLocalAdd(missing, { containerID: "c2", ifName: "eth0" }, testDeps()), (e: unknown) => {
        assert.ok(e instanceof CniError && e.code === 5);
        assert.match(e.message, /^failed to read resolvConf ".*\/nope": ENOENT/);
        return true;
      });
    }));

  it("requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips go to the range set holding them", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, dual(d), { runtimeConfig: { ips: ["fd00:200::5/125"] } });
      const r = await hostLocalAdd(
        conf,
        { containerID: "c1", ifName: "eth0", args: "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.200.0.6" },
        deps,
      );
      assert.deepEqual(r.ips, [
        { address: "10.200.0.6/29", gateway: "10.200.0.1" },
        { address: "fd00:200::5/125", gateway: "fd00:200::1" },
      ]);
      const conf2 = netConf(d, dual(d), { args: { cni: { ips: ["10.200.0.6"] } } });
      await assert.rejects(
        hostLocalAdd(conf2, { containerID: "c2", ifName: "eth0" }, deps),
        /^failed to allocate for range 0: requested IP address 10\.200\.0\.6 is not available/,
      );
      // nothing of c2 is left behind
      assert.deepEqual(await files(d), ["10.200.0.6", "fd00:200::5", "last_reserved_ip.0", "last_reserved_ip.1"]);
    }));

  it("a requested IP no range set holds fails and releases what was reserved", () =>
    withTempDir(async (d) => {
      const conf = netConf(d, dual(d), { runtimeConfig: { ips: ["10.9.9.9"] } });
      await assert.rejects(hostLocalAdd(conf, { containerID: "c1", ifName: "eth0" }, testDeps()), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.message, "failed to allocate all requested IPs: 10.9.9.9");
        assert.equal(e.code, 7);
        return true;
      });
      assert.deepEqual(
        (await files(d)).filter((f) => !f.startsWith("last_")),
        [],
      );
    }));

  it("second family exhausted: the first family's reservation is undone, Go's message, code 11", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, { ranges: [[{ subnet: "10.200.0.0/24" }], [{ subnet: "fd00:200::/126" }]], dataDir: d });
      await hostLocalAdd(conf, { containerID: "a", ifName: "eth0" }, deps); // fd00:200::2
      await hostLocalAdd(conf, { containerID: "b", ifName: "eth0" }, deps); // fd00:200::3
      await assert.rejects(hostLocalAdd(conf, { containerID: "c", ifName: "eth0" }, deps), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, 11);
        assert.equal(
          e.message,
          "failed to allocate for range 1: no IP addresses available in range set: fd00:200::1-fd00:200::3",
        );
        return true;
      });
      assert.deepEqual(
        (await files(d)).filter((f) => !f.startsWith("last_")),
        ["10.200.0.2", "10.200.0.3", "fd00:200::2", "fd00:200::3"],
      );
    }));

  it("two range sets of the same family, each with several ranges", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, {
        ranges: [[{ subnet: "10.200.0.0/30" }, { subnet: "10.200.1.0/30" }], [{ subnet: "10.201.0.0/30" }]],
        dataDir: d,
      });
      const a = await hostLocalAdd(conf, { containerID: "a", ifName: "eth0" }, deps);
      assert.deepEqual(
        a.ips?.map((i) => i.address),
        ["10.200.0.2/30", "10.201.0.2/30"],
      );
      // b would get 10.200.1.2 from set 0 (its second range), but set 1 is full: undone
      await assert.rejects(
        hostLocalAdd(conf, { containerID: "b", ifName: "eth0" }, deps),
        /failed to allocate for range 1: no IP addresses available in range set: 10\.201\.0\.1-10\.201\.0\.2/,
      );
      assert.deepEqual(
        (await files(d)).filter((f) => !f.startsWith("last_")),
        ["10.200.0.2", "10.201.0.2"],
      );
      await hostLocalDel(conf, { containerID: "a", ifName: "eth0" }, deps);
      // round robin goes on after 10.200.1.2 and wraps to the first range
      const b = await hostLocalAdd(conf, { containerID: "b", ifName: "eth0" }, deps);
      assert.deepEqual(
        b.ips?.map((i) => i.address),
        ["10.200.0.2/30", "10.201.0.2/30"],
      );
    }));

  it("a bad config is code 999 (as the reference's plain errors) and names the field", () =>
    withTempDir(async (d) => {
      const out = await runVerb(testDeps(), "ADD", netConf(d, { ranges: [[{ subnet: "10.1.0.0/33" }]] }), {
        containerID: "c1",
        ifName: "eth0",
      });
      assert.equal(out.code, 1);
      assert.equal(out.json?.["code"], 999);
      assert.equal(
        out.json?.["msg"],
        `invalid range set 0: ipam.ranges[0][0]: invalid range "10.1.0.0/33": prefix length 33 is greater than 32 for IPv4`,
      );
    }));
});

describe("DEL and CHECK", () => {
  it("DEL releases by owner, including files outside today's ranges and legacy id-only files", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, { subnet: "10.200.0.0/24", dataDir: d });
      await fs.mkdir(join(d, "net1"), { recursive: true });
      await fs.writeFile(join(d, "net1", "10.99.0.5"), "c1\r\neth0");
      await fs.writeFile(join(d, "net1", "10.99.0.6"), "c2");
      await hostLocalDel(conf, { containerID: "c1", ifName: "eth0" }, deps);
      await hostLocalCheck(conf, { containerID: "c2", ifName: "eth0" }, deps);
      await hostLocalDel(conf, { containerID: "c2", ifName: "eth0" }, deps);
      assert.deepEqual(await files(d), []);
    }));
  it("DEL still needs a valid config (as Go)", () =>
    withTempDir(async (d) => {
      await assert.rejects(
        hostLocalDel(netConf(d, {}), { containerID: "c1", ifName: "eth0" }, testDeps()),
        /no IP ranges specified/,
      );
    }));
});

describe("GC (beyond the reference)", () => {
  it("releases every reservation whose attachment is not valid, and leftover temp files", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, dual(d));
      for (const [id, ifn] of [
        ["a", "eth0"],
        ["a", "eth1"],
        ["b", "eth0"],
      ] as const)
        await hostLocalAdd(conf, { containerID: id, ifName: ifn }, deps);
      const dir = join(d, "net1");
      await fs.writeFile(join(dir, "10.200.0.7"), "legacy-keep");
      await fs.writeFile(join(dir, "fd00:200::7"), "legacy-drop");
      await fs.writeFile(join(dir, "10.200.0.6"), ""); // ownerless (e.g. a crash of an O_EXCL writer)
      await fs.writeFile(join(dir, ".podnet-tmp-0123456789abcdef"), "a\r\neth0");
      await fs.writeFile(join(dir, "unrelated"), "b\r\neth0");

      // without an attachments key nothing is released
      await hostLocalGc(conf, deps);
      assert.equal((await fs.readdir(dir)).length, 13);

      const logs: string[] = [];
      await hostLocalGc(
        {
          ...conf,
          "cni.dev/valid-attachments": [
            { containerID: "a", ifname: "eth1" },
            { containerID: "legacy-keep", ifname: "eth0" },
          ],
        },
        { ...deps, log: (m) => logs.push(m) },
      );
      assert.deepEqual((await fs.readdir(dir)).filter((f) => f !== "lock").sort(), [
        "10.200.0.3",
        "10.200.0.7",
        "fd00:200::3",
        "last_reserved_ip.0",
        "last_reserved_ip.1",
        "unrelated",
      ]);
      assert.equal(await fs.readFile(join(dir, "10.200.0.3"), "utf8"), "a\r\neth1");
      assert.equal(logs.length, 7);
    }));
  it("reads the older cni.dev/attachments key and rejects a malformed list (code 7)", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, dual(d));
      await hostLocalAdd(conf, { containerID: "a", ifName: "eth0" }, deps);
      await hostLocalGc({ ...conf, "cni.dev/attachments": [{ containerID: "a", ifname: "eth0" }] }, deps);
      assert.equal((await files(d)).length, 4);
      await hostLocalGc({ ...conf, "cni.dev/attachments": [] }, deps);
      assert.equal((await files(d)).length, 2);
      await assert.rejects(
        hostLocalGc({ ...conf, "cni.dev/valid-attachments": [{ containerID: 1 }] }, deps),
        (e: unknown) => {
          assert.ok(e instanceof CniError && e.code === 7);
          assert.match(
            e.message,
            /^invalid "cni\.dev\/valid-attachments\[0\]": must be \{"containerID": string, "ifname": string\}/,
          );
          return true;
        },
      );
    }));
});

describe("STATUS (beyond the reference)", () => {
  it("ready while any range set has room; code 50 once one is exhausted; ready again after DEL", () =>
    withTempDir(async (d) => {
      const deps = testDeps();
      const conf = netConf(d, { ranges: [[{ subnet: "10.200.0.0/24" }], [{ subnet: "fd00:200::/126" }]], dataDir: d });
      await hostLocalStatus(conf, deps);
      await hostLocalAdd(conf, { containerID: "a", ifName: "eth0" }, deps);
      await hostLocalStatus(conf, deps);
      await hostLocalAdd(conf, { containerID: "b", ifName: "eth0" }, deps);
      await assert.rejects(hostLocalStatus(conf, deps), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, 50);
        assert.equal(e.message, "no IP addresses available in range set: fd00:200::1-fd00:200::3");
        return true;
      });
      // reservations outside the ranges or on the gateway do not count
      await fs.writeFile(join(d, "net1", "fd00:200::1"), "x\r\neth0");
      await hostLocalDel(conf, { containerID: "a", ifName: "eth0" }, deps);
      await hostLocalStatus(conf, deps);
    }));
  it("code 50 when the data dir is unusable", () =>
    withTempDir(async (d) => {
      await fs.writeFile(join(d, "file"), "");
      const conf = netConf(join(d, "file"), { subnet: "10.200.0.0/24" });
      await assert.rejects(hostLocalStatus(conf, testDeps()), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, 50);
        assert.match(e.message, /^failed to open the store for network "net1" in ".*\/file": ENOTDIR/);
        return true;
      });
      const failingLock = {
        ...testDeps(),
        lock: async () => Promise.reject(new Error("EROFS: read-only file system")),
      };
      await assert.rejects(
        hostLocalStatus(netConf(d, { subnet: "10.200.0.0/24" }), failingLock),
        (e: unknown) => e instanceof CniError && e.code === 50,
      );
      const readOnly = {
        ...testDeps(),
        fs: {
          ...testDeps().fs,
          writeFile: async () =>
            Promise.reject(Object.assign(new Error("EROFS: read-only file system"), { code: "EROFS" })),
        },
      };
      await assert.rejects(hostLocalStatus(netConf(d, { subnet: "10.200.0.0/24" }), readOnly), (e: unknown) => {
        assert.ok(e instanceof CniError && e.code === 50);
        assert.match(e.message, /^data dir ".*\/net1" is unusable: EROFS/);
        return true;
      });
    }));
  it("a bad config keeps its own code", () =>
    withTempDir(async (d) => {
      await assert.rejects(
        hostLocalStatus(netConf(d, {}), testDeps()),
        (e: unknown) => e instanceof CniError && e.code === 7,
      );
    }));
});
