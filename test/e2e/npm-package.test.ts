// The npm package as a consumer gets it: `npm pack`, then `npm ci --offline` into a fresh project
// (podnet's own dependencies come from the npm cache that podnet's `npm ci` filled, through a
// lockfile made from podnet's), then the README's SDK example — extracted from README.md, so the
// two cannot drift — type-checked against the emitted declarations (NodeNext), built with the
// README's command and run as a CNI plugin. And scripts/install.mjs, which builds the addon at
// install time against the headers of the Node that runs it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO } from "./sandbox.js";

interface InstallScript {
  findNodeDir(o: {
    execPath: string;
    env: Record<string, string | undefined>;
    exists: (p: string) => boolean;
  }): string | undefined;
}
const installScript = () => import(pathToFileURL(join(REPO, "scripts", "install.mjs")).href) as Promise<InstallScript>;

/** The environment for the commands run here: none of an outer npm's (`npm test`) settings. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && k !== "NODE_EXTRA_CA_CERTS" && k !== "NODE_OPTIONS") e[k] = v;
  return { ...e, ...extra };
}

/** Runs a command; throws with its output unless it exits 0. */
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: env(), timeout: 120_000, ...opts });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ""}:\n${String(r.stdout)}${String(r.stderr)}`,
    );
  return String(r.stdout);
}

/** The fenced block after the `<!-- sdk-example:NAME ... -->` line of README.md. */
function readmeBlock(name: string): string {
  const lines = readFileSync(join(REPO, "README.md"), "utf8").split("\n");
  const at = lines.findIndex((l) => l.startsWith(`<!-- sdk-example:${name}`));
  assert.ok(at >= 0, `README.md has no <!-- sdk-example:${name} --> marker`);
  const open = lines.findIndex((l, i) => i > at && l.startsWith("```"));
  const close = lines.findIndex((l, i) => i > open && l === "```");
  assert.ok(open > at && close > open, `README.md: no code block after the sdk-example:${name} marker`);
  return `${lines.slice(open + 1, close).join("\n")}\n`;
}

interface LockEntry {
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [k: string]: unknown;
}

/**
 * package.json + package-lock.json of a consumer of `tarball`, with esbuild and @types/node as dev
 * dependencies: every entry but podnet's is copied from podnet's lockfile, so `npm ci --offline`
 * finds each tarball in the cache by its integrity and never asks the registry.
 */
function consumerProject(dir: string, tarball: string): void {
  const own = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
    version: string;
    license: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    engines: Record<string, string>;
  };
  const lock = (
    JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> }
  ).packages;
  const entry = (n: string) => {
    const e = lock[`node_modules/${n}`];
    assert.ok(e, `package-lock.json has no node_modules/${n}`);
    return e;
  };
  const spec = `file:${tarball}`;
  const dependencies = { podnet: spec };
  const devDependencies = { esbuild: entry("esbuild").version, "@types/node": entry("@types/node").version };
  const packages: Record<string, unknown> = {
    "": { name: "consumer", dependencies, devDependencies },
    "node_modules/podnet": {
      version: own.version,
      resolved: spec,
      integrity: `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`,
      hasInstallScript: true,
      license: own.license,
      dependencies: own.dependencies,
      bin: own.bin,
      engines: own.engines,
    },
  };
  // Node's resolution over the lockfile's paths: a dependency of the package at `from` is the
  // nearest `node_modules/<name>` above it (nested versions stay nested).
  const resolve = (from: string, name: string): string => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
      const at = `${dir ? `${dir}/` : ""}node_modules/${name}`;
      if (lock[at]) return at;
      assert.ok(dir !== "", `package-lock.json has no ${name} for ${from || "the root"}`);
    }
  };
  const todo = [...Object.keys(own.dependencies), ...Object.keys(devDependencies)].map((n) => resolve("", n));
  for (let at = todo.pop(); at !== undefined; at = todo.pop()) {
    if (packages[at]) continue;
    const e = lock[at] as LockEntry;
    packages[at] = e;
    const deps = [...Object.keys(e.dependencies ?? {}), ...Object.keys(e.optionalDependencies ?? {})];
    for (const n of deps) {
      try {
        todo.push(resolve(at, n));
      } catch (err) {
        if (!e.optionalDependencies?.[n]) throw err;
      }
    }
  }
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module", dependencies, devDependencies }, null, 2),
  );
  writeFileSync(
    join(dir, "package-lock.json"),
    JSON.stringify({ name: "consumer", lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        types: ["node"],
      },
    }),
  );
}

/** A consumer's use of each entry point. */
const ENTRIES_TS = [
  `import { CniError, CniCode, parseConfList, type Result } from "podnet/cni";`,
  `import { dispatch, runPlugin, type PluginFuncs } from "podnet/sdk";`,
  `import { CniRuntime } from "podnet/libcni";`,
  `import { parseCidr } from "podnet/ip";`,
  `const r: Result = { cniVersion: "1.1.0" };`,
  `const f: PluginFuncs = { add: async () => r, del: async () => {} };`,
  `const e: CniError = new CniError(CniCode.InvalidNetworkConfig, "x");`,
  `console.log(JSON.stringify([typeof parseConfList, typeof dispatch, typeof runPlugin, typeof CniRuntime, String(parseCidr("10.200.0.1/24").prefix), e.code, typeof f.add]));`,
  "",
].join("\n");

const firstLine = (file: string) => readFileSync(file, "utf8").split("\n", 1)[0];

describe("the npm package, packed and installed into a fresh project", () => {
  let tmp = "";
  let tarball = "";
  let app = "";
  let pkg = "";
  const node = realpathSync(process.execPath);

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "podnet-t-pkg-"));
    // --ignore-scripts: prepack would rebuild dist/ and build/ under the other tests' feet.
    const out = run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", tmp], { cwd: REPO });
    tarball = join(tmp, out.trim().split("\n").pop() ?? "");
    app = join(tmp, "app");
    mkdirSync(app);
    consumerProject(app, tarball);
    run("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: app });
    pkg = join(app, "node_modules", "podnet");
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("ships the bin, dist with declarations, the bundles, the addon's sources and the LICENSE; no tests, no prebuilt addon", () => {
    const files = new Set(
      run("tar", ["-tzf", tarball])
        .trim()
        .split("\n")
        .map((f) => f.replace(/^package\//, "")),
    );
    for (const f of [
      "package.json",
      "LICENSE",
      "README.md",
      "bin/podnet",
      "dist/src/cli/main.js",
      "build/package.json",
      "build/cni/bridge",
      "build/cni/portmap",
      "build/resident/bridge",
      "build/resident/podnet-bridge.cjs",
      "native/binding.gyp",
      "native/podnet_netlink.c",
      "scripts/install.mjs",
      "scripts/code-cache.mjs",
      "docs/operations.md",
    ]) {
      assert.ok(files.has(f), `the tarball lacks ${f}`);
    }
    for (const e of ["cni", "sdk", "libcni", "ip"]) {
      assert.ok(
        files.has(`dist/src/${e}/index.js`) && files.has(`dist/src/${e}/index.d.ts`),
        `the tarball lacks dist/src/${e}/index.{js,d.ts}`,
      );
    }
    const bad = [...files].filter((f) => /\.test\.|\.node$|^test\/|^src\/|^bench\//.test(f));
    assert.deepEqual(bad, []);
    const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as {
      private?: boolean;
      license?: string;
    };
    assert.equal(manifest.private, undefined);
    assert.equal(manifest.license, "Apache-2.0");
    assert.match(readFileSync(join(pkg, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0/);
  });

  it("install built the addon beside the plugins, which start with the Node that installed them", () => {
    assert.ok(existsSync(join(pkg, "build", "cni", "podnet_netlink.node")));
    assert.ok(existsSync(join(pkg, "build", "resident", "podnet_netlink.node")));
    assert.equal(firstLine(join(pkg, "build", "cni", "bridge")), `#!${node}`);
    const out = run(join(pkg, "build", "cni", "bridge"), [], { env: env({ CNI_COMMAND: "VERSION" }) });
    assert.deepEqual((JSON.parse(out) as { supportedVersions: string[] }).supportedVersions.at(-1), "1.1.0");
    assert.match(run(join(app, "node_modules", ".bin", "podnet"), ["install", "--help"]), /usage: podnet install/);
  });

  it("podnet/cni, podnet/sdk, podnet/libcni, podnet/ip and the README's SDK example type-check from a NodeNext project", () => {
    writeFileSync(join(app, "entries.ts"), ENTRIES_TS);
    writeFileSync(join(app, "ipfile.ts"), readmeBlock("plugin"));
    run(join(REPO, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: app });
  });

  it("the entry points load at run time through the exports map", () => {
    // entries.ts without its types: what tsc would emit.
    const js = ENTRIES_TS.replace(/, type \w+/g, "").replace(/: (Result|PluginFuncs|CniError)\b/g, "");
    writeFileSync(join(app, "entries.mjs"), js);
    assert.equal(
      run(process.execPath, ["entries.mjs"], { cwd: app }).trim(),
      JSON.stringify(["function", "function", "function", "function", "24", 7, "function"]),
    );
  });

  it("the README's SDK example builds with the README's command and serves VERSION, ADD, DEL and errors", () => {
    writeFileSync(join(app, "ipfile.ts"), readmeBlock("plugin"));
    const bin = join(tmp, "cni-bin");
    mkdirSync(bin);
    const build = readmeBlock("build");
    assert.match(build, /\/opt\/cni\/bin\/ipfile/);
    run("sh", ["-ec", build.replaceAll("/opt/cni/bin", bin)], { cwd: app });
    const plugin = join(bin, "ipfile");
    assert.equal(firstLine(plugin), `#!${run("sh", ["-c", "command -v node"]).trim()}`);

    const call = (command: string, conf: object | undefined) =>
      spawnSync(plugin, [], {
        encoding: "utf8",
        input: conf ? JSON.stringify(conf) : "",
        env: env({
          CNI_COMMAND: command,
          CNI_CONTAINERID: "ctr1",
          CNI_NETNS: "/run/netns/podnet-t-none",
          CNI_IFNAME: "eth0",
          CNI_PATH: bin,
        }),
      });
    const version = call("VERSION", undefined);
    assert.equal(version.status, 0, version.stderr);
    assert.deepEqual(JSON.parse(version.stdout), {
      cniVersion: "1.1.0",
      supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    });

    const state = join(tmp, "state");
    const prevResult = {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: "/run/netns/podnet-t-none" }],
      ips: [
        { address: "10.200.0.5/24", interface: 0 },
        { address: "fd00:200::5/64", interface: 0 },
      ],
    };
    const conf = { cniVersion: "1.0.0", name: "pkgtest", type: "ipfile", dir: state, prevResult };
    const add = call("ADD", conf);
    assert.equal(add.status, 0, add.stdout + add.stderr);
    assert.deepEqual(JSON.parse(add.stdout), { ...prevResult, dns: {} }); // printed as Go prints a result
    assert.equal(readFileSync(join(state, "ctr1-eth0"), "utf8"), "10.200.0.5/24\nfd00:200::5/64\n");

    const del = call("DEL", { cniVersion: "1.0.0", name: "pkgtest", type: "ipfile", dir: state });
    assert.equal(del.status, 0, del.stdout + del.stderr);
    assert.equal(existsSync(join(state, "ctr1-eth0")), false);

    const noPrev = call("ADD", { cniVersion: "1.0.0", name: "pkgtest", type: "ipfile", dir: state });
    assert.equal(noPrev.status, 1);
    const wire = (out: string) => {
      const e = JSON.parse(out) as { code?: number; msg?: string };
      return { code: e.code, msg: e.msg };
    };
    assert.deepEqual(wire(noPrev.stdout), { code: 7, msg: "Required prevResult missing" });
    const badDir = call("ADD", { ...conf, dir: "relative" });
    assert.equal(badDir.status, 1);
    assert.deepEqual(wire(badDir.stdout), { code: 7, msg: `"dir" must be an absolute path, got "relative"` });
  });

  it("npm rebuild under another Node builds the addon with that Node's headers and stamps its path", () => {
    // Another Node installation: <prefix>/bin/node (a hard link: /proc/self/exe keeps its path)
    // and <prefix>/include/node.
    const prefix = join(tmp, "other-node");
    mkdirSync(join(prefix, "bin"), { recursive: true });
    mkdirSync(join(prefix, "include"));
    const other = join(prefix, "bin", "node");
    try {
      linkSync(node, other);
    } catch {
      copyFileSync(node, other);
    }
    symlinkSync("/usr/include/node", join(prefix, "include", "node"));
    writeFileSync(join(tmp, "empty-npmrc"), "");
    rmSync(join(pkg, "native", "build"), { recursive: true, force: true });
    // Drop bridge's code cache: the rebuild must make a new one for the Node it stamps.
    const bridgeText = readFileSync(join(pkg, "build", "cni", "bridge"), "utf8");
    writeFileSync(
      join(pkg, "build", "cni", "bridge"),
      bridgeText.replace(/(\n\/\*podnet:code-cache\n)[A-Za-z0-9+/=]+/, "$1"),
    );
    const r = spawnSync("npm", ["rebuild", "podnet", "--foreground-scripts"], {
      cwd: app,
      encoding: "utf8",
      timeout: 120_000,
      // A user npmrc naming a nodedir would win over the detection (as it should): use none.
      env: env({
        PATH: `${join(prefix, "bin")}:${process.env["PATH"] ?? ""}`,
        PODNET_INSTALL_VERBOSE: "1",
        npm_config_userconfig: join(tmp, "empty-npmrc"),
      }),
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, new RegExp(`--nodedir=${prefix}(\\s|$)`));
    assert.equal(firstLine(join(pkg, "build", "cni", "bridge")), `#!${other}`);
    assert.equal(firstLine(join(pkg, "build", "resident", "podnet-bridge.cjs")), `#!${other}`);
    // The re-stamped plugins got a code cache made by that Node.
    const check = [
      `import { parsePlugin } from ${JSON.stringify(pathToFileURL(join(pkg, "scripts", "code-cache.mjs")).href)};`,
      `import { readFileSync } from "node:fs"; import { Script } from "node:vm";`,
      `const p = parsePlugin(readFileSync(${JSON.stringify(join(pkg, "build", "cni", "bridge"))}, "utf8"));`,
      `console.log(p.cache.length > 0 && !new Script(p.source, { cachedData: p.cache }).cachedDataRejected);`,
    ].join("\n");
    assert.equal(run(other, ["--input-type=module", "-e", check]).trim(), "true");
    const addon = join(pkg, "build", "cni", "podnet_netlink.node");
    assert.equal(
      run(other, [
        "-e",
        `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)}); console.log(typeof m.exports.nlOpen)`,
      ]).trim(),
      "function",
    );
    const out = run(join(pkg, "build", "cni", "loopback"), [], { env: env({ CNI_COMMAND: "VERSION" }) });
    assert.equal((JSON.parse(out) as { cniVersion: string }).cniVersion, "1.1.0");
  });
});

describe("scripts/install.mjs", () => {
  it("finds headers beside the running Node, then in /usr and /usr/local, else leaves it to node-gyp", async () => {
    const { findNodeDir } = await installScript();
    const has =
      (...dirs: string[]) =>
      (p: string) =>
        dirs.some((d) => p === join(d, "include", "node", "node_api.h"));
    const execPath = "/opt/node-v20/bin/node";
    assert.equal(findNodeDir({ execPath, env: {}, exists: has("/opt/node-v20", "/usr") }), "/opt/node-v20");
    assert.equal(findNodeDir({ execPath, env: {}, exists: has("/usr", "/usr/local") }), "/usr");
    assert.equal(findNodeDir({ execPath, env: {}, exists: has("/usr/local") }), "/usr/local");
    assert.equal(findNodeDir({ execPath: "/usr/bin/node", env: {}, exists: has("/usr") }), "/usr");
    assert.equal(findNodeDir({ execPath, env: {}, exists: has() }), undefined);
    // npm's --nodedir wins: node-gyp reads it from npm_config_nodedir itself.
    assert.equal(
      findNodeDir({ execPath, env: { npm_config_nodedir: "/srv/headers" }, exists: has("/opt/node-v20") }),
      undefined,
    );
  });
});
