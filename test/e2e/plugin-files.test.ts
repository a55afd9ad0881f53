// The plugin executables as files (scripts/build.mjs, scripts/code-cache.mjs): each starts from a
// V8 code cache this Node accepts, still runs when the cache does not fit, reports errors at its
// own lines, and loads nothing at start-up that VERSION does not need.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Script } from "node:vm";
import { nodeEnv, PODNET_PLUGINS, REPO } from "./sandbox.js";

interface CodeCacheModule {
  parsePlugin(
    text: string,
  ): { shebang: string; source: string; body: string; lineOffset: number; cache: Buffer } | undefined;
  addCodeCache(file: string): Promise<void>;
  refreshCodeCache(file: string): Promise<boolean>;
  pluginFile(shebang: string, body: string, version?: string, cache?: Buffer): string;
}
const codeCache = () => import(pathToFileURL(join(REPO, "scripts", "code-cache.mjs")).href) as Promise<CodeCacheModule>;

const plugins = readdirSync(PODNET_PLUGINS).filter((n) => !n.endsWith(".node") && !n.endsWith(".json"));

/** VERSION from the loader, or (traced) from the bundle. */
const version = (file: string, { extra = [] as string[], traced = false } = {}) =>
  spawnSync(process.execPath, [...extra, file], {
    encoding: "utf8",
    env: nodeEnv({ CNI_COMMAND: "VERSION", ...(traced ? { PODNET_TRACE: "1" } : {}) }),
  });

describe("plugin files", () => {
  const tmp = mkdtempSync(join(tmpdir(), "podnet-t-plugin-files-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("every plugin carries a V8 code cache for its own source that this Node accepts", async () => {
    const { parsePlugin } = await codeCache();
    assert.ok(plugins.includes("bridge") && plugins.includes("portmap"), `plugins: ${plugins.join(", ")}`);
    for (const name of plugins) {
      const p = parsePlugin(readFileSync(join(PODNET_PLUGINS, name), "utf8"));
      assert.ok(p, `${name} is not in the code-cache layout`);
      assert.equal(p.shebang, `#!${process.execPath}`);
      assert.ok(p.cache.length > 1000, `${name}: no code cache`);
      const s = new Script(p.source, { filename: name, lineOffset: p.lineOffset, cachedData: p.cache });
      assert.equal(s.cachedDataRejected, false, `${name}: V8 rejects the code cache`);
    }
  });

  it("answers VERSION without its bundle, byte for byte what the bundle answers", () => {
    for (const name of plugins) {
      const fast = version(join(PODNET_PLUGINS, name));
      const bundle = version(join(PODNET_PLUGINS, name), { traced: true });
      assert.equal(fast.status, 0, fast.stderr);
      assert.equal(bundle.status, 0, bundle.stderr);
      assert.match(
        bundle.stderr,
        new RegExp(`^podnet trace ${name} VERSION: `),
        `${name}: PODNET_TRACE=1 did not go through the bundle`,
      );
      assert.equal(fast.stdout, bundle.stdout);
      assert.equal(fast.stderr, "");
    }
  });

  it("a plugin whose cache does not fit (another Node, a damaged cache) still runs: V8 compiles the bundle", async () => {
    const { parsePlugin } = await codeCache();
    const file = join(tmp, "loopback");
    const text = readFileSync(join(PODNET_PLUGINS, "loopback"), "utf8");
    const p = parsePlugin(text);
    assert.ok(p);
    const b64 = p.cache.toString("base64");
    writeFileSync(file, text.replace(b64, Buffer.from("not a code cache").toString("base64")), { mode: 0o755 });
    const damaged = parsePlugin(readFileSync(file, "utf8"));
    assert.ok(damaged);
    assert.equal(new Script(damaged.source, { cachedData: damaged.cache }).cachedDataRejected, true);
    const want = version(join(PODNET_PLUGINS, "loopback"), { traced: true });
    const got = version(file, { traced: true });
    assert.equal(want.status, 0, want.stderr);
    assert.equal(got.status, 0, got.stderr);
    assert.match(got.stderr, /^podnet trace loopback VERSION: /);
    assert.equal(got.stdout, want.stdout);
  });

  it('keeps the bundle byte for byte ("*/" included), reports errors at the file\'s own lines, and regenerates its cache', async () => {
    const { addCodeCache, parsePlugin, refreshCodeCache } = await codeCache();
    const file = join(tmp, "thrower");
    const body = [
      `"use strict";`,
      `const s = "a */ b", r = /x*/g;`,
      `if (process.env.THROW) throw new Error("thrown here");`,
      `console.log(JSON.stringify([s, r.source, typeof module.exports, typeof __dirname]));`,
      ``,
    ].join("\n");
    writeFileSync(file, `#!${process.execPath}\n${body}`);
    chmodSync(file, 0o755);
    await addCodeCache(file);
    const text = readFileSync(file, "utf8");
    const p = parsePlugin(text);
    assert.ok(p);
    assert.ok(p.source.includes(body), "the bundle changed on its way through the file");
    const ok = spawnSync(file, [], { encoding: "utf8", env: nodeEnv() });
    assert.equal(ok.stdout.trim(), JSON.stringify(["a */ b", "x*", "object", "string"]), ok.stderr);
    const thrown = spawnSync(file, [], { encoding: "utf8", env: nodeEnv({ THROW: "1" }) });
    assert.notEqual(thrown.status, 0);
    const line = text.split("\n").findIndex((l) => l.includes(`throw new Error("thrown here")`)) + 1;
    assert.ok(thrown.stderr.startsWith(`${file}:${line}\n`), thrown.stderr);
    // A refreshed cache is again one this Node accepts.
    writeFileSync(file, text.replace(p.cache.toString("base64"), ""));
    assert.equal(await refreshCodeCache(file), true);
    const q = parsePlugin(readFileSync(file, "utf8"));
    assert.ok(q && q.cache.length > 0);
    assert.equal(new Script(q.source, { cachedData: q.cache }).cachedDataRejected, false);
    assert.equal(await refreshCodeCache(join(PODNET_PLUGINS, "..", "package.json")), false);
  });

  it("start-up loads no builtin module beyond vm: node:crypto and perf_hooks wait until a command needs them", () => {
    const preload = join(tmp, "modules.cjs");
    writeFileSync(
      preload,
      `const before = new Set(process.moduleLoadList);\nprocess.on("exit", () => process._rawDebug(JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m)))));\n`,
    );
    const loaded = (r: ReturnType<typeof version>) => JSON.parse(r.stderr.trim().split("\n").pop() ?? "") as string[];
    for (const name of plugins) {
      const bundle = version(join(PODNET_PLUGINS, name), { extra: ["-r", preload], traced: true });
      assert.equal(bundle.status, 0, bundle.stderr);
      assert.deepEqual(loaded(bundle), ["NativeModule vm"], `${name} loads more at start-up`);
      const fast = version(join(PODNET_PLUGINS, name), { extra: ["-r", preload] });
      assert.deepEqual(loaded(fast), [], `${name}: VERSION loads modules`);
    }
  });

  it("podnet install with another Node than the build's remakes the cache for the Node it stamps in", async () => {
    const { parsePlugin, pluginFile } = await codeCache();
    const { pluginFiles, withFreshCodeCaches, refreshCodeCache } = (await import(
      pathToFileURL(join(REPO, "dist", "src", "deploy", "plugins.js")).href
    )) as typeof import("../../src/deploy/plugins.js");
    const from = join(tmp, "another-node-build");
    mkdirSync(from);
    copyFileSync(join(PODNET_PLUGINS, "podnet_netlink.node"), join(from, "podnet_netlink.node"));
    // As another Node's build would look to this one: its own #! line, a cache this Node rejects.
    const p = parsePlugin(readFileSync(join(PODNET_PLUGINS, "loopback"), "utf8"));
    assert.ok(p);
    const answer = version(join(PODNET_PLUGINS, "loopback")).stdout;
    writeFileSync(
      join(from, "loopback"),
      pluginFile("#!/usr/bin/env node", p.body, answer, Buffer.from("another Node's cache")),
      { mode: 0o755 },
    );
    const files = await withFreshCodeCaches(pluginFiles(from, process.execPath), refreshCodeCache);
    const installed = files.find((f) => f.name === "loopback");
    assert.ok(installed?.stamped);
    const q = parsePlugin(installed.bytes.toString("utf8"));
    assert.ok(q);
    assert.equal(q.shebang, `#!${process.execPath}`);
    assert.equal(q.body, p.body, "the bundle as built");
    assert.equal(
      new Script(q.source, { filename: "x", lineOffset: q.lineOffset, cachedData: q.cache }).cachedDataRejected,
      false,
      "this Node accepts the new cache",
    );
  });

  it("a copy elsewhere (podnet install, the resident fallback) runs from the same cache", () => {
    const file = join(tmp, "bridge-copy.cjs");
    copyFileSync(join(PODNET_PLUGINS, "bridge"), file);
    const r = version(file, { traced: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { cniVersion: string }).cniVersion, "1.1.0");
  });
});
