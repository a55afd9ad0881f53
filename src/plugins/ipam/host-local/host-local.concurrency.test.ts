// Two processes allocate from one data directory at the same time through the real flock lock
// (the native addon): no address may be handed out twice. Skipped when the addon is not built.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import { loadAddon } from "../../../kernel/addon.js";
import { netConf, withTempDir } from "./testing.js";

const PER_WORKER = 200;

function addonMissing(): string | false {
  try {
    loadAddon();
    return false;
  } catch (e) {
    return `native addon not available: ${(e as Error).message}`;
  }
}

/** The child's source: `count` ADDs in sequence (-1: forever), each address printed as it is confirmed. */
function workerCode(name: string, conf: object, count: number, streaming: boolean): string {
  const hostLocal = new URL("./host-local.js", import.meta.url).href;
  const addon = new URL("../../../kernel/addon.js", import.meta.url).href;
  const lock = new URL("../../../kernel/lock.js", import.meta.url).href;
  return `
    import * as fsp from "node:fs/promises";
    import { readFileSync } from "node:fs";
    import { hostLocalAdd } from ${JSON.stringify(hostLocal)};
    import { loadAddon } from ${JSON.stringify(addon)};
    import { createLocker } from ${JSON.stringify(lock)};
    const deps = { fs: { ...fsp, readFileSync }, lock: createLocker(loadAddon) };
    const conf = ${JSON.stringify(conf)};
    const out = [];
    for (let i = 0; ${count} < 0 || i < ${count}; i++) {
      const r = await hostLocalAdd(conf, { containerID: ${JSON.stringify(name)} + "-" + i, ifName: "eth0" }, deps);
      if (${streaming}) process.stdout.write(r.ips.map((x) => x.address).join("\\n") + "\\n");
      else out.push(...r.ips.map((x) => x.address));
    }
    process.stdout.write(JSON.stringify(out));
  `;
}

const childEnv = () => {
  const env = { ...process.env };
  delete env["NODE_EXTRA_CA_CERTS"];
  return env;
};

/** A child process that runs `count` ADDs in sequence and prints the addresses as JSON. */
function worker(name: string, conf: object, count: number): Promise<string[]> {
  const code = workerCode(name, conf, count, false);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      env: childEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.once("error", reject);
    child.once("close", (status) => {
      if (status !== 0) reject(new Error(`worker ${name} exited ${status}: ${err}`));
      else resolve(JSON.parse(out) as string[]);
    });
  });
}

describe("host-local under concurrency", { skip: addonMissing() }, () => {
  it(`2 processes × ${PER_WORKER} ADDs on one data dir through flock: no duplicates`, { timeout: 120_000 }, () =>
    withTempDir(async (d) => {
      const conf = netConf(d, { ranges: [[{ subnet: "10.200.0.0/22" }], [{ subnet: "fd00:200::/118" }]], dataDir: d });
      const [a, b] = await Promise.all([worker("a", conf, PER_WORKER), worker("b", conf, PER_WORKER)]);
      const all = [...a, ...b];
      assert.equal(all.length, 2 * 2 * PER_WORKER);
      assert.equal(new Set(all).size, all.length, "an address was handed out twice");
      // every address is on disk exactly once, owned by the container that got it
      const dir = join(d, "net1");
      const names = (await fs.readdir(dir)).filter((f) => /^[0-9a-f.:]+$/.test(f) && !f.startsWith("last_"));
      assert.equal(names.length, all.length);
      for (const [who, list] of [
        ["a", a],
        ["b", b],
      ] as const) {
        for (const [i, addr] of list.entries()) {
          const owner = await fs.readFile(join(dir, addr.split("/")[0]!), "utf8");
          assert.equal(owner, `${who}-${Math.floor(i / 2)}\r\neth0`);
        }
      }
      // and no temporary file is left behind
      assert.deepEqual(
        (await fs.readdir(dir)).filter((f) => f.startsWith(".")),
        [],
      );
    }),
  );
});

/**
 * Starts an endless allocator, lets it confirm `after` addresses (plus a random few ms, so the
 * kill lands anywhere in an allocation), SIGKILLs it, and returns what it had confirmed.
 */
function killedWorker(name: string, conf: object, after: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", workerCode(name, conf, -1, true)], {
      env: childEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let killing = false;
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (!killing && out.split("\n").length > after) {
        killing = true;
        setTimeout(() => child.kill("SIGKILL"), Math.floor(Math.random() * 4));
      }
    });
    child.once("error", reject);
    child.once("close", (_status, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`worker ${name} ended without being killed`));
      // Only complete lines were confirmed to the caller.
      else
        resolve(
          out
            .split("\n")
            .slice(0, -1)
            .filter((l) => l !== ""),
        );
    });
  });
}

describe("host-local after kill -9", { skip: addonMissing() }, () => {
  it(
    "a process killed mid-allocation leaves a usable store: confirmed leases kept, no duplicates, no stuck lock",
    { timeout: 120_000 },
    () =>
      withTempDir(async (d) => {
        const conf = netConf(d, { ranges: [[{ subnet: "10.200.4.0/22" }]], dataDir: d });
        const confirmed: string[] = [];
        for (let round = 0; round < 5; round++)
          confirmed.push(...(await killedWorker(`k${round}`, conf, 5 + round * 3)));
        assert.ok(confirmed.length >= 5 * 5);
        // The lock died with its holder: a new allocation goes through at once.
        const again = await worker("after", conf, 20);
        const all = [...confirmed, ...again];
        assert.equal(new Set(all).size, all.length, "an address was handed out twice");
        const dir = join(d, "net1");
        const files = await fs.readdir(dir);
        for (const addr of confirmed) assert.ok(files.includes(addr.split("/")[0]!), `confirmed lease ${addr} lost`);
        // Every reservation on disk is whole: "<containerID>\r\n<ifname>".
        for (const f of files.filter((x) => /^[0-9.]+$/.test(x))) {
          assert.match(await fs.readFile(join(dir, f), "utf8"), /^[a-z0-9]+-\d+\r\neth0$/, f);
        }
      }),
  );
});
