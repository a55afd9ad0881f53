import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { install, insideEsmPackage } from "./install.js";

function withDirs(fn: (from: string, to: string, root: string) => void) {
  const root = mkdtempSync(join(tmpdir(), "podnet-t-install-"));
  try {
    const from = join(root, "build");
    mkdirSync(from);
    for (const n of ["bridge", "host-local", "loopback", "sample", "podnet_netlink.node"]) writeFileSync(join(from, n), `#!node\n${n}\n`, { mode: 0o644 });
    writeFileSync(join(from, ".hidden"), "x");
    fn(from, join(root, "opt", "cni", "bin"), root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe("podnet install", () => {
  it("copies the plugins and the addon, mode 0755, not the SDK sample", () =>
    withDirs((from, to) => {
      const r = install(from, to);
      assert.deepEqual(r.installed, ["podnet_netlink.node", "bridge", "host-local", "loopback"]);
      assert.deepEqual(readdirSync(to).sort(), ["bridge", "host-local", "loopback", "podnet_netlink.node"]);
      for (const n of readdirSync(to)) assert.equal(statSync(join(to, n)).mode & 0o777, 0o755, n);
      assert.equal(readFileSync(join(to, "bridge"), "utf8"), "#!node\nbridge\n");
      writeFileSync(join(from, "bridge"), "#!node\nbridge v2\n");
      install(from, to); // replaces in place (rename over the old file)
      assert.equal(readFileSync(join(to, "bridge"), "utf8"), "#!node\nbridge v2\n");
      assert.equal(r.wrotePackageJson, false);
    }));

  it("marks the directory CommonJS when it sits inside an ESM package", () =>
    withDirs((from, to, root) => {
      writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
      assert.equal(insideEsmPackage(to), true);
      const r = install(from, to);
      assert.equal(r.wrotePackageJson, true);
      assert.deepEqual(JSON.parse(readFileSync(join(to, "package.json"), "utf8")), { type: "commonjs" });
    }));

  it("installs a resident layout: addon, then the Node fallbacks, then the launchers", () =>
    withDirs((from, to) => {
      for (const n of ["bridge", "host-local", "loopback", "sample"]) writeFileSync(join(from, `podnet-${n}.cjs`), `#!node\n${n}\n`);
      const r = install(from, to);
      assert.deepEqual(r.installed, [
        "podnet_netlink.node",
        "podnet-bridge.cjs",
        "podnet-host-local.cjs",
        "podnet-loopback.cjs",
        "bridge",
        "host-local",
        "loopback",
      ]);
    }));

  it("fails clearly without a build or without the addon", () =>
    withDirs((from, to, root) => {
      assert.throws(() => install(join(root, "nope"), to), /no built plugins in .*nope: run `node scripts\/build\.mjs`/);
      rmSync(join(from, "podnet_netlink.node"));
      assert.throws(() => install(from, to), /podnet_netlink\.node is missing/);
    }));
});
