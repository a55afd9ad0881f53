// Bounded input, end to end: the built plugin executables and the `podnet` command against
// documents too deep or too large (answered with code 6 in bounded memory, measured as the
// process's own maxRSS), files a config names that are secrets, and a file system that is full
// (a real tmpfs of a few pages, unmounted afterwards whatever happens).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResultCache } from "../../src/libcni/cache.js";
import { createCheckpointStore } from "../../src/netmgr/sandbox/checkpoint.js";
import { AttachmentStore, nodeStateFs } from "../../src/plugins/meta/attachment-state.js";
import { PODNET_PLUGINS, REPO, sh } from "./sandbox.js";

const built = existsSync(join(PODNET_PLUGINS, "host-local"));
const skip = process.getuid?.() !== 0 ? "needs root" : !built ? "run `node scripts/build.mjs` first" : false;
const PLUGINS = ["host-local", "bridge", "loopback", "portmap", "bandwidth"];

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-input-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A preload that prints the process's peak RSS (KiB) to stderr when it exits. */
function rssPreload(dir: string): string {
  const f = join(dir, "maxrss.cjs");
  writeFileSync(
    f,
    `process.on("exit", () => require("node:fs").writeSync(2, "\\nmaxrss=" + process.resourceUsage().maxRSS + "\\n"));\n`,
  );
  return f;
}

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Peak resident set in MiB. */
  readonly maxRssMiB: number;
}

/** Runs a Node script (a plugin bundle, bin/podnet) with stdin from `stdinFile`. */
function runNode(dir: string, script: string, args: string[], env: Record<string, string>, stdinFile?: string): Run {
  const r = spawnSync(
    "sh",
    [
      "-c",
      `p=$1 s=$2; shift 2; exec "$0" -r "$p" "$s" "$@" < "$STDIN_FILE"`,
      process.execPath,
      rssPreload(dir),
      script,
      ...args,
    ],
    {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", STDIN_FILE: stdinFile ?? "/dev/null", ...env },
      encoding: "utf8",
      maxBuffer: 16 << 20,
    },
  );
  const m = /maxrss=(\d+)/.exec(r.stderr);
  assert.ok(m, `no maxrss in stderr: ${r.stderr.slice(0, 500)}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, maxRssMiB: Number(m[1]) / 1024 };
}

const cniEnv = (over: Record<string, string> = {}) => ({
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "input-limits",
  CNI_NETNS: "/var/run/netns/podnet-t-none",
  CNI_IFNAME: "eth0",
  CNI_PATH: PODNET_PLUGINS,
  ...over,
});

/** A baseline: the same plugin answering a tiny bad request. */
function baselineMiB(dir: string, plugin: string): number {
  const f = join(dir, "tiny.json");
  writeFileSync(f, "{}");
  return runNode(dir, join(PODNET_PLUGINS, plugin), [], cniEnv(), f).maxRssMiB;
}

describe("plugin stdin is bounded (built executables)", { skip }, () => {
  it("a 5,000,000-deep document: code 6 with the reason, memory near a tiny request's", () =>
    withDir((dir) => {
      const f = join(dir, "deep.json");
      writeFileSync(f, "[".repeat(5_000_000) + "]".repeat(5_000_000));
      for (const plugin of PLUGINS) {
        const base = baselineMiB(dir, plugin);
        const r = runNode(dir, join(PODNET_PLUGINS, plugin), [], cniEnv(), f);
        assert.equal(r.status, 1, plugin);
        const out = JSON.parse(r.stdout) as { code: number; msg: string };
        assert.equal(out.code, 6, `${plugin}: ${r.stdout}`);
        // Go refuses it too (beyond its 10,000 levels): in encoding/json's words, one byte quoted.
        assert.equal(out.msg, "error unmarshall network config: invalid character '[' exceeded max depth");
        // The 10 MB document itself, and nothing that grows with its depth (V8 alone: ~550 MB).
        assert.ok(
          r.maxRssMiB < base + 40,
          `${plugin}: peak RSS ${r.maxRssMiB.toFixed(0)} MiB, a tiny request ${base.toFixed(0)} MiB`,
        );
      }
    }));

  it("a document over 64 MiB: code 6, and no more than 64 MiB of it is ever read", () =>
    withDir((dir) => {
      const f = join(dir, "big.json");
      // Valid JSON: without the limit it would be parsed whole (and then refused for its content).
      writeFileSync(f, `{"cniVersion":"1.0.0","name":"n","type":"host-local","pad":"${"x".repeat(80 << 20)}"}`);
      const base = baselineMiB(dir, "host-local");
      const r = runNode(dir, join(PODNET_PLUGINS, "host-local"), [], cniEnv(), f);
      const out = JSON.parse(r.stdout) as { code: number; msg: string };
      assert.equal(out.code, 6, r.stdout);
      assert.equal(out.msg, "error unmarshall network config: input is larger than 64 MiB");
      assert.ok(
        r.maxRssMiB < base + 64 + 24,
        `peak RSS ${r.maxRssMiB.toFixed(0)} MiB for an 80 MiB input (a tiny request: ${base.toFixed(0)} MiB)`,
      );
    }));

  it("host-local's rangeFromFile on a secret: the file is named, its content never shown", () =>
    withDir((dir) => {
      const shadow = join(dir, "shadow");
      writeFileSync(shadow, "root:$6$SECRETSALT$hashhash:19000:0:99999:7:::\n", { mode: 0o600 });
      const conf = join(dir, "conf.json");
      writeFileSync(
        conf,
        JSON.stringify({
          cniVersion: "1.0.0",
          name: "n",
          ipam: { type: "host-local", rangeFromFile: shadow, dataDir: join(dir, "ipam") },
        }),
      );
      const r = runNode(dir, join(PODNET_PLUGINS, "host-local"), [], cniEnv(), conf);
      const out = JSON.parse(r.stdout) as { code: number; msg: string };
      assert.equal(out.code, 999, r.stdout); // the reference's plain errors
      assert.equal(
        out.msg,
        `failed to parse rangeFromFile ${JSON.stringify(shadow)} as a Range: not JSON: unexpected character (expected a value) at line 1, column 1 (byte 0)`,
      );
    }));
});

describe("`podnet pod add` reads at most 1 MiB of a manifest", { skip }, () => {
  it("an 8 MiB manifest is refused before it is parsed, in bounded memory", () =>
    withDir((dir) => {
      const f = join(dir, "pod.yaml");
      const pad = `  annotations:\n${Array.from({ length: 80_000 }, (_, i) => `    a${i}: "${"x".repeat(90)}"\n`).join("")}`;
      writeFileSync(f, `apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n${pad}spec:\n  containers: [{name: c}]\n`);
      const r = runNode(
        dir,
        join(REPO, "bin", "podnet"),
        ["pod", "add", "-f", f, "--socket", join(dir, "none.sock")],
        {},
      );
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /^podnet pod add: cannot read .*pod\.yaml: larger than 1 MiB \(a Pod manifest is a few KiB\)$/m,
      );
      assert.ok(r.maxRssMiB < 150, `peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
    }));
});

describe("a full disk leaves nothing behind (a real tmpfs)", { skip }, () => {
  /** A 64 KiB tmpfs filled to the last byte; unmounted and removed afterwards. */
  async function withFullTmpfs(fn: (mnt: string) => void | Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-input-"));
    const mnt = join(dir, "mnt");
    try {
      sh("mkdir", ["-p", mnt]);
      sh("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "podnet-t-full", mnt]);
      try {
        // Directories first (they need no data pages), then fill the pages.
        for (const d of ["ipam/net1", "cache/results", "state/net1", "checkpoints/sandboxes"])
          sh("mkdir", ["-p", join(mnt, d)]);
        spawnSync("dd", ["if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=4k"], { stdio: "ignore" });
        await fn(mnt);
      } finally {
        spawnSync("umount", [mnt]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const leftovers = (d: string) =>
    readdirSync(d)
      .filter((f) => f !== "lock")
      .sort();

  it("host-local (built): ADD fails with code 999 (the reference's) and leaves no file", () =>
    withFullTmpfs((mnt) => {
      const conf = join(mnt, "..", "conf.json");
      writeFileSync(
        conf,
        JSON.stringify({
          cniVersion: "1.0.0",
          name: "net1",
          ipam: { type: "host-local", subnet: "10.200.0.0/24", dataDir: join(mnt, "ipam") },
        }),
      );
      const r = runNode(join(mnt, ".."), join(PODNET_PLUGINS, "host-local"), [], cniEnv(), conf);
      const out = JSON.parse(r.stdout) as { code: number; msg: string };
      assert.equal(out.code, 999, r.stdout);
      assert.match(out.msg, /ENOSPC/);
      assert.deepEqual(leftovers(join(mnt, "ipam", "net1")), []);
    }));

  it("the libcni result cache, the portmap/bandwidth state and the node manager's checkpoints: the write fails, nothing is left", () =>
    withFullTmpfs(async (mnt) => {
      const result = { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }] };
      const entry = {
        containerID: "c1",
        network: "net1",
        ifName: "eth0",
        config: Buffer.from("x".repeat(9000)),
        netns: "/run/netns/x",
        cniArgs: [],
        capabilityArgs: {},
      };
      assert.throws(() => new ResultCache(join(mnt, "cache")).write(entry, result), /ENOSPC/);
      assert.deepEqual(leftovers(join(mnt, "cache", "results")), []);

      const store = new AttachmentStore(nodeStateFs, join(mnt, "state"));
      await assert.rejects(
        store.write({ version: 1, network: "net1", containerID: "c1", ifName: "eth0", pad: "x".repeat(9000) } as never),
        /ENOSPC/,
      );
      assert.deepEqual(leftovers(join(mnt, "state", "net1")), []);

      const cp = createCheckpointStore(join(mnt, "checkpoints"));
      const rec = {
        id: "sb1",
        namespace: "default",
        name: "p",
        uid: "u",
        netns: "",
        ownsNetns: false,
        hostNetwork: false,
        portMappings: [],
        annotations: { pad: "x".repeat(9000) },
        options: {},
        plugin: "noop",
        createdAt: "",
        phase: "ready" as const,
        ips: [],
      };
      assert.throws(() => cp.write(rec), /ENOSPC/);
      assert.deepEqual(leftovers(join(mnt, "checkpoints", "sandboxes")), []);
    }));
});
