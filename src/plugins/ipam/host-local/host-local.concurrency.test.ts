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

/** A child process that runs `count` ADDs in sequence and prints the addresses as JSON. */
function worker(name: string, conf: object, count: number): Promise<string[]> {
  const hostLocal = new URL("./host-local.js", import.meta.url).href;
  const addon = new URL("../../../kernel/addon.js", import.meta.url).href;
  const lock = new URL("../../../kernel/lock.js", import.meta.url).href;
  const code = `
    import * as fsp from "node:fs/promises";
    import { readFileSync } from "node:fs";
    import { hostLocalAdd } from ${JSON.stringify(hostLocal)};
    import { loadAddon } from ${JSON.stringify(addon)};
    import { createLocker } from ${JSON.stringify(lock)};
    const deps = { fs: { ...fsp, readFileSync }, lock: createLocker(loadAddon) };
    const conf = ${JSON.stringify(conf)};
    const out = [];
    for (let i = 0; i < ${count}; i++) {
      const r = await hostLocalAdd(conf, { containerID: ${JSON.stringify(name)} + "-" + i, ifName: "eth0" }, deps);
      out.push(...r.ips.map((x) => x.address));
    }
    process.stdout.write(JSON.stringify(out));
  `;
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env["NODE_EXTRA_CA_CERTS"];
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { env, stdio: ["ignore", "pipe", "pipe"] });
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
      for (const [who, list] of [["a", a], ["b", b]] as const) {
        for (const [i, addr] of list.entries()) {
          const owner = await fs.readFile(join(dir, addr.split("/")[0]!), "utf8");
          assert.equal(owner, `${who}-${Math.floor(i / 2)}\r\neth0`);
        }
      }
      // and no temporary file is left behind
      assert.deepEqual((await fs.readdir(dir)).filter((f) => f.startsWith(".")), []);
    }));
});
