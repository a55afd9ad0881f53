// host-local against input an attacker (or an unlucky operator) controls: nesting, __proto__
// keys, config-named files that are secrets or endless, and a disk that fills up mid-ADD.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CniError, type JsonObject } from "../../../cni/index.js";
import { DEFAULT_DATA_DIR, loadIPAMConfig } from "./config.js";
import { type HostLocalFs, hostLocalAdd, hostLocalStatus } from "./host-local.js";
import { asyncFs, netConf, runVerb, testDeps, withTempDir } from "./testing.js";

const deepText = (n: number) => "[".repeat(n) + "]".repeat(n);
const deep = (n: number) => JSON.parse(deepText(n)) as unknown;

describe("host-local: nesting", () => {
  it("a 5,000-deep array in ipam.routes is a decoding failure (6), not a stack overflow (999)", () =>
    withTempDir(async (d) => {
      // (as text: V8's own JSON.stringify cannot write it)
      const conf = JSON.stringify(netConf(d, { subnet: "10.200.0.0/24", routes: "ROUTES" })).replace(
        '"ROUTES"',
        deepText(5000),
      );
      const out = await runVerb(testDeps(), "ADD", conf, { containerID: "c1", ifName: "eth0" });
      assert.equal(out.json?.["code"], 6, out.stdout);
      assert.match(String(out.json?.["msg"]), /nesting deeper than 1000 levels/);
    }));
  it("nesting within the limit reaches the validator, which names the field (999, as the reference's plain errors)", () =>
    withTempDir(async (d) => {
      const out = await runVerb(testDeps(), "ADD", netConf(d, { subnet: "10.200.0.0/24", routes: deep(997) }), {
        containerID: "c1",
        ifName: "eth0",
      });
      assert.equal(out.json?.["code"], 999, out.stdout);
      assert.equal(out.json?.["msg"], 'invalid host-local config: "ipam.routes.0" must be an object, got [[[…]]]');
    }));
});

describe("host-local: __proto__ keys are data", () => {
  // JSON.parse (and every JSON source) makes "__proto__" an own key; copying it with `out[k] = v`
  // used to make it the prototype of the copy, and then `dataDir` came from the attacker.
  const hostile = (d: string) =>
    JSON.parse(
      `{"cniVersion":"1.1.0","name":"net1","ipam":{"type":"host-local","subnet":"10.200.0.0/24","__proto__":{"dataDir":${JSON.stringify(join(d, "evil"))}}}}`,
    ) as JsonObject;

  it("ipam.__proto__.dataDir does not become the data dir", () =>
    withTempDir(async (d) => {
      const { ipam } = await loadIPAMConfig(hostile(d), "");
      assert.equal(ipam.dataDir, DEFAULT_DATA_DIR);
    }));
  it("through the dispatcher, ADD never touches the attacker's directory", () =>
    withTempDir(async (d) => {
      const made: string[] = [];
      // Refuses to create anything: the test must not write into the real DEFAULT_DATA_DIR.
      const fsSpy: HostLocalFs = {
        ...asyncFs,
        mkdir: async (p) => {
          made.push(p);
          throw Object.assign(new Error(`EACCES: permission denied, mkdir '${p}'`), { code: "EACCES" });
        },
      };
      const out = await runVerb({ ...testDeps(), fs: fsSpy }, "ADD", hostile(d), { containerID: "c1", ifName: "eth0" });
      assert.equal(out.json?.["code"], 999, out.stdout);
      assert.deepEqual(made, [join(DEFAULT_DATA_DIR, "net1")]);
      assert.equal(existsSync(join(d, "evil")), false);
    }));
});

describe("host-local: rangeFromFile never shows the file's content", () => {
  const SECRET = "SECRETSALT$hash4711";
  const add = (d: string, file: string) =>
    runVerb(testDeps(), "ADD", netConf(d, { rangeFromFile: file }), { containerID: "c1", ifName: "eth0" });
  const refused = async (d: string, file: string, re: RegExp) => {
    const out = await add(d, file);
    assert.equal(out.json?.["code"], 999, out.stdout);
    const msg = String(out.json?.["msg"]);
    assert.match(msg, re);
    assert.ok(msg.includes(JSON.stringify(file)), `names the file: ${msg}`);
    assert.doesNotMatch(msg, /root|SECRET|hash4711/, "no byte of the file's content");
  };
  it("a shadow file (not JSON): the file and the position, not its first bytes", () =>
    withTempDir(async (d) => {
      const f = join(d, "shadow");
      await fs.writeFile(f, `root:$6$${SECRET}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`, { mode: 0o600 });
      await refused(
        d,
        f,
        /^failed to parse rangeFromFile ".*\/shadow" as a Range: not JSON: unexpected character \(expected a value\) at line 1, column 1 \(byte 0\)$/,
      );
    }));
  it("a JSON file that is not a Range: the field, not the value", () =>
    withTempDir(async (d) => {
      const cases: Array<[string, RegExp]> = [
        [`["${SECRET}"]`, /^invalid rangeFromFile ".*": value must be an object$/],
        [`{"subnet": "${SECRET}"}`, /as a Range: "subnet" is not a CIDR$/],
        [`{"subnet": "10.0.0.0/24", "gateway": "${SECRET}"}`, /as a Range: "gateway" is not an IP address$/],
        [`{"subnet": ["${SECRET}"]}`, /^invalid rangeFromFile ".*": "subnet" must be string$/],
        [`{"token": "${SECRET}"}`, /as a Range: no "subnet"$/],
      ];
      for (const [i, [text, re]] of cases.entries()) {
        const f = join(d, `range${i}.json`);
        await fs.writeFile(f, text);
        await refused(d, f, re);
      }
    }));
  it("a device, or a file larger than 1 MiB, is refused without reading it all", () =>
    withTempDir(async (d) => {
      await refused(d, "/dev/zero", /^failed to read rangeFromFile "\/dev\/zero": \/dev\/zero is not a regular file$/);
      const big = join(d, "big.json");
      await fs.writeFile(big, " ".repeat((1 << 20) + 1));
      await refused(d, big, /^failed to read rangeFromFile ".*big.json": .*big.json is larger than 1048576 bytes$/);
    }));
  it("resolvConf is read with the same bound", () =>
    withTempDir(async (d) => {
      const out = await runVerb(testDeps(), "ADD", netConf(d, { subnet: "10.200.0.0/24", resolvConf: "/dev/zero" }), {
        containerID: "c1",
        ifName: "eth0",
      });
      assert.equal(out.json?.["code"], 999, out.stdout);
      assert.match(
        String(out.json?.["msg"]),
        /^failed to read resolvConf "\/dev\/zero": \/dev\/zero is not a regular file$/,
      );
    }));
});

describe("host-local: a full disk leaves nothing behind", () => {
  const enospc = (p: string) =>
    Object.assign(new Error(`ENOSPC: no space left on device, write '${p}'`), { code: "ENOSPC" });
  /** As a full disk behaves: open(O_CREAT) makes the file, then the write fails. */
  const fullDisk = (fail: (path: string) => boolean = () => true): HostLocalFs => ({
    ...asyncFs,
    writeFile: async (p, data, o) => {
      if (!fail(p)) return asyncFs.writeFile(p, data, o);
      await fs.writeFile(p, "", { mode: o.mode, flag: o.flag });
      throw enospc(p);
    },
  });
  const left = async (d: string) => (await fs.readdir(join(d, "net1"))).filter((f) => f !== "lock").sort();

  it("ADD whose reservation cannot be written: code 999 (the reference's), no temporary file, no reservation", () =>
    withTempDir(async (d) => {
      const out = await runVerb({ ...testDeps(), fs: fullDisk() }, "ADD", netConf(d, { subnet: "10.200.0.0/24" }), {
        containerID: "c1",
        ifName: "eth0",
      });
      assert.equal(out.json?.["code"], 999, out.stdout);
      assert.match(String(out.json?.["msg"]), /ENOSPC/);
      assert.deepEqual(await left(d), []);
    }));
  it("ADD whose last_reserved_ip cannot be written: the reservation is undone too", () =>
    withTempDir(async (d) => {
      let n = 0;
      const secondWriteFails = fullDisk(() => ++n === 2);
      await assert.rejects(
        hostLocalAdd(
          netConf(d, { subnet: "10.200.0.0/24" }),
          { containerID: "c1", ifName: "eth0" },
          { ...testDeps(), fs: secondWriteFails },
        ),
        /ENOSPC/,
      );
      assert.deepEqual(await left(d), []);
    }));
  it("ADD over two range sets failing on the second: the first address is released", () =>
    withTempDir(async (d) => {
      let n = 0;
      const v6Fails = fullDisk(() => ++n === 3); // v4: reservation, last_reserved_ip.0; v6: reservation
      const conf = netConf(d, { ranges: [[{ subnet: "10.200.0.0/24" }], [{ subnet: "fd00:200::/64" }]] });
      const out = await runVerb({ ...testDeps(), fs: v6Fails }, "ADD", conf, { containerID: "c1", ifName: "eth0" });
      assert.equal(out.json?.["code"], 999, out.stdout);
      // last_reserved_ip.0 may stay (Go keeps it too: a hint, not a reservation); no address, no temp file
      assert.deepEqual(
        (await left(d)).filter((f) => f !== "last_reserved_ip.0"),
        [],
      );
    }));
  it("STATUS's probe of a full disk: code 50, no temporary file", () =>
    withTempDir(async (d) => {
      await assert.rejects(
        hostLocalStatus(netConf(d, { subnet: "10.200.0.0/24" }), { ...testDeps(), fs: fullDisk() }),
        (e: unknown) => e instanceof CniError && e.code === 50,
      );
      assert.deepEqual(await left(d), []);
    }));
});
