// Interop with Debian's Go host-local (containernetworking-plugins, /usr/lib/cni/host-local):
// both take turns, and run at the same time, on one data directory. They must honour each
// other's lock, round-robin state and reservation files, release each other's reservations, and
// print the same results. Needs root and the Go binary; the data dir is a fresh temp dir.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import type { JsonObject } from "../../../cni/index.js";
import { loadAddon } from "../../../kernel/addon.js";
import { createLocker } from "../../../kernel/lock.js";
import { createDirWatcher } from "../../../kernel/dir-watch.js";
import { type HostLocalDeps, hostLocalAdd, hostLocalCheck, hostLocalDel } from "./host-local.js";
import { StoreCache } from "./store-cache.js";
import { asyncFs, netConf, runVerb, withTempDir } from "./testing.js";

const GO_HOST_LOCAL = "/usr/lib/cni/host-local";
/** Debian's v1.1.1 speaks up to 1.0.0. */
const GO_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"];

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root";
  if (!existsSync(GO_HOST_LOCAL)) return `needs ${GO_HOST_LOCAL} (apt-get install containernetworking-plugins)`;
  try {
    loadAddon();
  } catch (e) {
    return `native addon not available: ${(e as Error).message}`;
  }
  return false;
}

interface GoOutcome {
  readonly code: number | null;
  readonly json: JsonObject | undefined;
  readonly stdout: string;
}

function runGo(
  command: string,
  conf: JsonObject,
  containerID: string,
  ifName = "eth0",
  cniArgs = "",
): Promise<GoOutcome> {
  return new Promise((resolve, reject) => {
    const env = {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerID,
      CNI_NETNS: "/var/run/netns/podnet-t-none",
      CNI_IFNAME: ifName,
      CNI_PATH: "/usr/lib/cni",
      CNI_ARGS: cniArgs,
    };
    const child = spawn(GO_HOST_LOCAL, [], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.resume();
    child.once("error", reject);
    child.once("close", (code) =>
      resolve({ code, stdout, json: stdout.trim() ? (JSON.parse(stdout) as JsonObject) : undefined }),
    );
    child.stdin.end(JSON.stringify(conf));
  });
}

/** podnet as a plugin process runs it (every call reads the store), and as a daemon does (the store kept in memory, inotify). */
const VARIANTS: Array<[string, () => HostLocalDeps]> = [
  ["uncached", () => ({ fs: { ...asyncFs, readFileSync }, lock: createLocker(loadAddon) })],
  [
    "cached (a daemon's store cache)",
    () => {
      const w = createDirWatcher();
      return {
        fs: { ...asyncFs, readFileSync, changes: (p) => w.changes(p) },
        lock: createLocker(loadAddon),
        cache: new StoreCache(),
      };
    },
  ],
];
const addrs = (r: { ips?: Array<{ address: string }> } | JsonObject | undefined) =>
  ((r?.["ips"] as Array<{ address: string }> | undefined) ?? []).map((i) => i.address);

for (const [variant, deps] of VARIANTS)
  describe(`interop with Go host-local on one data dir, podnet ${variant}`, { skip: skipReason() }, () => {
    const ipam = (d: string) => ({
      ranges: [[{ subnet: "10.200.0.0/24" }], [{ subnet: "fd00:200::/120" }]],
      dataDir: d,
    });

    it("alternating ADDs continue one round robin; each CHECKs and DELs the other's reservations", () =>
      withTempDir(async (d) => {
        const conf = netConf(d, ipam(d), {}, "1.0.0");
        const dp = deps();
        const got: string[][] = [];
        for (let i = 0; i < 10; i++) {
          if (i % 2 === 0) {
            const r = await runGo("ADD", conf, `go-${i}`);
            assert.equal(r.code, 0, r.stdout);
            got.push(addrs(r.json));
          } else {
            got.push(addrs(await hostLocalAdd(conf, { containerID: `ts-${i}`, ifName: "eth0" }, dp)));
          }
        }
        assert.deepEqual(
          got,
          Array.from({ length: 10 }, (_, i) => [`10.200.0.${i + 2}/24`, `fd00:200::${(i + 2).toString(16)}/120`]),
        );
        // the files are the same bytes whoever wrote them
        const dir = join(d, "net1");
        assert.equal(await fsp.readFile(join(dir, "10.200.0.2"), "utf8"), "go-0\r\neth0");
        assert.equal(await fsp.readFile(join(dir, "10.200.0.3"), "utf8"), "ts-1\r\neth0");
        assert.equal(await fsp.readFile(join(dir, "fd00:200::3"), "utf8"), "ts-1\r\neth0");
        assert.equal(await fsp.readFile(join(dir, "last_reserved_ip.1"), "utf8"), "fd00:200::b");

        // CHECK across implementations
        assert.equal((await runGo("CHECK", conf, "ts-1")).code, 0);
        await hostLocalCheck(conf, { containerID: "go-0", ifName: "eth0" }, dp);
        // duplicate detection across implementations
        const dup = await runGo("ADD", conf, "ts-1");
        assert.equal(dup.code, 1);
        assert.match(
          String(dup.json?.["msg"]),
          /10\.200\.0\.3 has been allocated to ts-1, duplicate allocation is not allowed/,
        );
        await assert.rejects(
          hostLocalAdd(conf, { containerID: "go-0", ifName: "eth0" }, dp),
          /10\.200\.0\.2 has been allocated to go-0/,
        );

        // DEL across implementations
        assert.equal((await runGo("DEL", conf, "ts-1")).code, 0);
        await hostLocalDel(conf, { containerID: "go-0", ifName: "eth0" }, dp);
        const left = (await fsp.readdir(dir)).filter((f) => /^(10\.|fd00)/.test(f));
        assert.equal(left.length, 16);
        assert.ok(!left.includes("10.200.0.2") && !left.includes("10.200.0.3") && !left.includes("fd00:200::3"));
        // Go's CHECK no longer finds the released container
        assert.equal((await runGo("CHECK", conf, "ts-1")).code, 1);
      }));

    it("an address Go releases and hands to another container between two podnet calls belongs to the new owner", () =>
      withTempDir(async (d) => {
        const conf = netConf(d, ipam(d), {}, "1.0.0");
        const dp = deps();
        assert.deepEqual(addrs(await hostLocalAdd(conf, { containerID: "a", ifName: "eth0" }, dp)), [
          "10.200.0.2/24",
          "fd00:200::2/120",
        ]);
        assert.equal((await runGo("DEL", conf, "a")).code, 0);
        const b = await runGo("ADD", conf, "b", "eth0", "IP=10.200.0.2");
        assert.equal(b.code, 0, b.stdout);
        assert.deepEqual(addrs(b.json), ["10.200.0.2/24", "fd00:200::3/120"]);
        await assert.rejects(
          hostLocalCheck(conf, { containerID: "a", ifName: "eth0" }, dp),
          /Failed to find address added by container a/,
        );
        await assert.rejects(
          hostLocalAdd(conf, { containerID: "b", ifName: "eth0" }, dp),
          /10\.200\.0\.2 has been allocated to b, duplicate allocation is not allowed/,
        );
        await hostLocalDel(conf, { containerID: "b", ifName: "eth0" }, dp);
        assert.deepEqual(
          (await fsp.readdir(join(d, "net1"))).filter((f) => /^(10\.|fd00)/.test(f)),
          [],
        );
      }));

    it("ADDs at the same time from Go processes and podnet never conflict (shared flock)", { timeout: 120_000 }, () =>
      withTempDir(async (d) => {
        const conf = netConf(d, ipam(d), {}, "1.0.0");
        const dp = deps();
        const N = 24;
        const jobs: Array<Promise<string[]>> = [];
        for (let i = 0; i < N; i++) {
          jobs.push(
            runGo("ADD", conf, `go-${i}`).then((r) =>
              r.code === 0 ? addrs(r.json) : Promise.reject(new Error(r.stdout)),
            ),
          );
          jobs.push(hostLocalAdd(conf, { containerID: `ts-${i}`, ifName: "eth0" }, dp).then(addrs));
        }
        const all = (await Promise.all(jobs)).flat();
        assert.equal(all.length, 4 * N);
        assert.equal(new Set(all).size, all.length, "an address was handed out twice");
      }),
    );

    for (const ver of GO_VERSIONS) {
      it(`[${ver}] prints the same result as Go for the same allocation, routes and dns included`, () =>
        withTempDir(async (d) => {
          await fsp.writeFile(
            join(d, "resolv.conf"),
            "nameserver 10.0.0.10\ndomain example.com\nsearch a b\noptions ndots:5\n",
          );
          const routes = [
            { dst: "0.0.0.0/0" },
            { dst: "192.168.0.0/16", gw: "10.200.0.254" },
            { dst: "3ffe:ffff:0:01ff::1/64" },
          ];
          const conf = netConf(d, { ...ipam(d), routes, resolvConf: join(d, "resolv.conf") }, {}, ver);
          const dir = join(d, "net1");
          const rewind = async () => {
            await fsp.mkdir(dir, { recursive: true });
            await fsp.writeFile(join(dir, "last_reserved_ip.0"), "10.200.0.6");
            await fsp.writeFile(join(dir, "last_reserved_ip.1"), "fd00:200::6");
          };
          await rewind();
          const go = await runGo("ADD", conf, "c1");
          assert.equal(go.code, 0, go.stdout);
          assert.equal((await runGo("DEL", conf, "c1")).code, 0);
          await rewind();
          const ours = await runVerb(deps(), "ADD", conf, { containerID: "c1", ifName: "eth0" });
          assert.equal(ours.code, 0, ours.stdout);
          // The whole document, byte for byte (dns included at every version, Go's key order).
          assert.equal(ours.stdout, go.stdout);
          assert.deepEqual(
            addrs(ours.json ?? {}),
            ver.startsWith("0.1") || ver.startsWith("0.2") ? [] : ["10.200.0.7/24", "fd00:200::7/120"],
          );
        }));
    }

    it("exhaustion reads the same in both", () =>
      withTempDir(async (d) => {
        const conf = netConf(d, { subnet: "10.200.0.0/30", dataDir: d }, {}, "1.0.0");
        assert.equal((await runGo("ADD", conf, "a")).code, 0);
        const go = await runGo("ADD", conf, "b");
        const ours = await runVerb(deps(), "ADD", conf, { containerID: "b", ifName: "eth0" });
        assert.equal(
          go.json?.["msg"],
          "failed to allocate for range 0: no IP addresses available in range set: 10.200.0.1-10.200.0.2",
        );
        assert.equal(ours.stdout, go.stdout, "code, msg and details, byte for byte");
      }));
  });
